"""A bounded memory of the images a crawl has fetched, for the media pipeline.

Scrapy's ``MediaPipeline`` keeps the result of every media request of a run in
``SpiderInfo.downloaded`` (request fingerprint -> result), so that an image shown on
many pages is fetched once. Here a result is an image's hashes and the decision rule's
query views, about 6 KB in memory, kept until the crawl ends: a crawl of 50,000 images
held some 300 MB more at its end than at its start (``benchmarks/soak.py``).

``RecentResults`` keeps only the results used most recently. An image seen again after
``limit`` other images were fetched is downloaded again, and its hashes are then found
in the database by their SHA-256 (it is not decoded nor hashed again); an image shown on
every page (a logo, a banner) is used all the time, so it stays.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

#: Results kept (MONITOR_MEDIA_CACHE_SIZE): about 25 MB at ~6 KB a result.
DEFAULT_LIMIT = 4096


class RecentResults(OrderedDict[bytes, Any]):
    """A dict of at most ``limit`` items; reading or writing one makes it the most recent,
    and writing beyond the limit forgets the least recently used."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError("the media cache must keep at least one result")
        self.limit = limit

    def __getitem__(self, key: bytes) -> Any:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def __setitem__(self, key: bytes, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)
