"""Running the alembic migrations, the only way the schema is made."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from monitor.db.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

#: The newest migration. Checked against alembic's scripts by a test, so that
#: commands can check the schema without importing alembic (it is slow to load).
HEAD = "0017"

#: ``alembic/`` at the top of the repository, beside this package.
SCRIPT_LOCATION = Path(__file__).resolve().parents[2] / "alembic"


class SchemaOutOfDate(RuntimeError):
    pass


def alembic_config(db: Database) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["engine"] = db.engine
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(db), revision)


def head_revision() -> str | None:
    """The newest revision according to alembic's own scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check_schema(db: Database) -> None:
    """Raise SchemaOutOfDate unless the database is at the newest migration."""
    current = current_revision(db)
    if current != HEAD:
        state = "has no schema" if current is None else f"is at revision {current}"
        raise SchemaOutOfDate(f"the database {state}; run `monitor db upgrade`")
