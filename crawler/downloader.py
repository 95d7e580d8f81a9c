"""Scrapy's downloader, with its per-site concurrency limit actually enforced.

Scrapy 2.19's ``Downloader._process_queue`` starts queued requests while the slot
has free transfer slots, but a request only counts as transferring once the task
it is started in runs (``slot.transferring.add`` in ``_download``); with the
asyncio reactor that task runs later, so one call starts *every* queued request
at once. With no download delay (a site crawled with ``--crawl-delay 0``, or an
image-heavy page whose images the media pipeline queues together) a crawl then
opens dozens of connections to one site, beyond ``CONCURRENT_REQUESTS_PER_DOMAIN``
and beyond the connection pool, which closes the surplus: a new TCP connection
for almost every image (measured: 960 for 1,100 requests) where eight would do.

Here a request counts as transferring as soon as it is taken from the queue.
``_download`` adds it again (a set) and removes it when its download ends, as before.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader as ScrapyDownloader
from scrapy.core.downloader import Slot
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro


class Downloader(ScrapyDownloader):
    def _process_queue(self, slot: Slot) -> None:
        # scrapy.core.downloader.Downloader._process_queue (2.19), one line added.
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # the line added: counted from now on
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break
