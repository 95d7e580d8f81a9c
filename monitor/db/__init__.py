"""Database access: engines, sessions and the schema's migrations."""

from __future__ import annotations

from monitor.db.engine import Database, make_engine
from monitor.db.migrations import SchemaOutOfDate, check_schema, upgrade

__all__ = ["Database", "SchemaOutOfDate", "check_schema", "make_engine", "upgrade"]
