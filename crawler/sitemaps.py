"""Reading robots.txt Sitemap lines and XML sitemaps, including image sitemaps.

Scrapy's own sitemap parser drops ``image:loc``, so sitemaps are read with lxml
here, with entities and network access off.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field

from lxml import etree

MAX_ENTRIES = 50_000  # the sitemap protocol's own limit per file


@dataclass
class Sitemap:
    pages: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    #: Video sitemaps' ``<video:content_loc>``: the video files themselves (their
    #: ``player_loc`` is an HTML player page, not read).
    videos: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    #: A page's ``<lastmod>``, as written (W3C datetime), where the sitemap gives one.
    lastmod: dict[str, str] = field(default_factory=dict)


def parse_robots_sitemaps(text: str) -> list[str]:
    urls = []
    for line in text.splitlines()[:10_000]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sitemap" and value.strip():
            urls.append(value.strip())
    return urls


def _gunzip(body: bytes, max_bytes: int) -> bytes | None:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as handle:
            data = handle.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error):
        return None
    return None if len(data) > max_bytes else data


def _localname(element: etree._Element) -> str:
    """An element's tag without its namespace. Never raises: in recovery mode libxml2
    keeps tags that etree.QName() refuses (``<:urlset>``, found by fuzzing)."""
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def parse_sitemap(body: bytes, *, max_bytes: int) -> Sitemap | None:
    """The URLs a sitemap or sitemap index names; None if it is not one."""
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body, max_bytes) or b""
    if not body.strip():
        return None
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, recover=True, remove_comments=True, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return None
    if root is None:
        return None
    kind = _localname(root)
    if kind not in ("urlset", "sitemapindex"):
        return None
    result = Sitemap()
    for element in root.iter("{*}loc"):
        if not isinstance(element.tag, str) or not element.text:
            continue
        parent = element.getparent()
        parent_name = _localname(parent) if parent is not None else ""
        url = element.text.strip()
        if parent_name == "image":
            result.images.append(url)
        elif parent_name == "sitemap":
            result.sitemaps.append(url)
        elif parent_name == "url":
            result.pages.append(url)
            assert parent is not None
            stamp = parent.find("{*}lastmod")
            if stamp is not None and stamp.text:
                result.lastmod[url] = stamp.text.strip()
        if len(result.pages) + len(result.images) + len(result.sitemaps) >= MAX_ENTRIES:
            break
    for element in root.iter("{*}content_loc"):
        parent = element.getparent()
        if element.text and parent is not None and _localname(parent) == "video":
            result.videos.append(element.text.strip())
            if len(result.videos) >= MAX_ENTRIES:
                break
    return result
