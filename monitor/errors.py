"""The short set of errors that the CLI (and later the web app) shows to people."""

from __future__ import annotations


class MonitorError(Exception):
    """An error with a message fit for the person who caused it; no traceback needed."""


class NotFound(MonitorError):
    pass


class InvalidInput(MonitorError):
    pass
