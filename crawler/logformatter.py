"""Logs that name what was crawled, never what an item carries."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import logformatter


class QuietLogFormatter(logformatter.LogFormatter):
    """Scraped items are logged by page URL only, and at DEBUG level."""

    def scraped(self, item: Any, response: Any, spider: Any) -> logformatter.LogFormatterResult:
        return {
            "level": logging.DEBUG,
            "msg": "Recorded page %(url)s",
            "args": {"url": getattr(item, "page_url", "?")},
        }
