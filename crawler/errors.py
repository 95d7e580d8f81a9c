"""Naming what went wrong with a request, for the run's error statistics."""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
    UnsupportedURLSchemeError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import defer
from twisted.internet.error import (
    ConnectError,
    ConnectionLost,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed


class ImageSkipped(Exception):
    """An image response that is no usable image; ``kind`` is its statistic."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind


def classify(failure: Failure) -> str:
    """A short, stable name for the failure of one request."""
    exc = failure.value
    reason = getattr(exc, "reason", None)
    if isinstance(exc, ImageSkipped):
        return exc.kind
    if isinstance(reason, str) and isinstance(exc, IgnoreRequest):
        return reason  # the address guard's reasons: private_address, unsupported_scheme...
    if isinstance(exc, HttpError):
        return f"http_{exc.response.status}"
    if isinstance(exc, IgnoreRequest):
        text = str(exc).lower()
        if "redirect" in text:
            return "too_many_redirects"
        if "robots" in text:
            return "robots_disallowed"
        return "ignored"
    if isinstance(exc, (DownloadCancelledError, defer.CancelledError)):
        return "too_large" if "max size" in str(exc) else "cancelled"
    if isinstance(exc, ResponseDataLossError):
        return "truncated"
    if isinstance(exc, (DownloadTimeoutError, TimeoutError, TCPTimedOutError)):
        return "timeout"
    if isinstance(exc, (CannotResolveHostError, DNSLookupError)):
        return "private_address" if "refused private address" in str(exc) else "dns"
    if isinstance(exc, UnsupportedURLSchemeError):
        return "unsupported_scheme"
    if isinstance(
        exc,
        (
            DownloadConnectionRefusedError,
            DownloadFailedError,
            ConnectError,
            ConnectionLost,
            ResponseFailed,
        ),
    ):
        return "connection"
    return "download_error"
