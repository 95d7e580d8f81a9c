"""Previews for review, made so that looking costs the analyst as little as possible.

An analyst deciding a hit needs to see the image, but not more than needed: the preview
is fetched LIVE from the hit's image URL at view time (through the crawler's address
guard, the size cap and the timeout, in memory), decoded with the crawler's limits
(``decode_image``: pixel count checked before decoding, a few formats only), turned to
greyscale, reduced to at most ``PREVIEW_SIZE`` pixels on its longer side, strongly
blurred unless the analyst asked to reveal it, and re-encoded (no metadata carried
over). Nothing is kept: not the bytes fetched, not the preview, on disk or anywhere
else. Each preview and each reveal is audit-logged (``hit.preview``, ``hit.reveal``)
with the hit's id and what came of it, never with the URL.

When the source has gone (404, 410), answers something that is not an image, too large
an image, or is refused by the guard, ``PreviewUnavailable`` says so in a short message
fit for the page ("gone at the source: 404"); ``placeholder`` draws it as a neutral image.
"""

from __future__ import annotations

import http.client
import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select

from monitor import audit
from monitor.app import App
from monitor.db.models import Hit, Sighting, Site
from monitor.db.models import Image as ImageRow
from monitor.errors import MonitorError, NotFound
from monitor.hashing import ImageRejected
from monitor.hashing.decode import decode_image
from monitor.netguard import AddressRefused
from monitor.tracking import fetch_image

#: The longest side of a preview, in pixels.
PREVIEW_SIZE = 320
#: The blur's radius as a fraction of the preview's longer side (20 px at 320 px):
#: shapes and tones remain, nothing recognisable does.
BLUR = 1 / 16
MEDIA_TYPE = "image/jpeg"

_REJECTED = {
    "empty": "the source answered no bytes",
    "not_image": "not an image at the source",
    "too_many_pixels": "too large an image (more pixels than allowed)",
    "corrupt": "a corrupt image at the source",
}


class PreviewUnavailable(MonitorError):
    """No preview: ``str()`` says why, for the page; ``gone`` when the source has it no more."""

    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


@dataclass(frozen=True)
class Preview:
    data: bytes
    media_type: str
    width: int
    height: int
    revealed: bool


def make_preview(
    data: bytes, *, max_pixels: int, reveal: bool = False, size: int = PREVIEW_SIZE
) -> Preview:
    """Image bytes as a greyscale preview of at most ``size`` pixels, blurred unless
    ``reveal``; PreviewUnavailable for bytes that are not an image one may decode."""
    try:
        decoded = decode_image(data, max_pixels=max_pixels)
    except ImageRejected as exc:
        raise PreviewUnavailable(_REJECTED.get(exc.kind, "cannot decode the image")) from None
    return _preview(decoded.image.copy(), reveal, size)  # luma, at most 512 px


def _preview(image: Image.Image, reveal: bool, size: int) -> Preview:
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    if not reveal:
        image = image.filter(ImageFilter.GaussianBlur(max(6.0, max(image.size) * BLUR)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return Preview(out.getvalue(), MEDIA_TYPE, image.width, image.height, reveal)


def video_frame(data: bytes, at: float, *, max_pixels: int) -> Image.Image:
    """The frame shown ``at`` seconds into video bytes held in memory, as luma (PyAV with
    the crawl's demuxer whitelist and no protocol: nothing else is opened); the stream's
    size is checked before decoding. PreviewUnavailable if there is none."""
    import av

    from monitor.video.hashing import DEMUXERS

    options = {"format_whitelist": ",".join(DEMUXERS), "protocol_whitelist": "none"}
    try:
        with av.open(io.BytesIO(data), "r", options=options, timeout=10.0) as container:
            stream = next(iter(container.streams.video), None)
            if stream is None or stream.codec_context is None:
                raise PreviewUnavailable("no video at the source")
            if stream.codec_context.width * stream.codec_context.height > max_pixels:
                raise PreviewUnavailable("too large a video (more pixels than allowed)")
            stream.codec_context.thread_count = 1
            start = None
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                start = frame.time if start is None else start
                if frame.time - start >= at:
                    return frame.to_image().convert("L")
    except PreviewUnavailable:
        raise
    except Exception:  # hostile bytes: whatever FFmpeg makes of them
        raise PreviewUnavailable("a corrupt video at the source") from None
    raise PreviewUnavailable("the video at the source is shorter than the matched stretch")


def make_video_preview(
    data: bytes, at: float, *, max_pixels: int, reveal: bool = False, size: int = PREVIEW_SIZE
) -> Preview:
    """The frame at ``at`` seconds of video bytes, previewed like an image: greyscale, at
    most ``size`` pixels, blurred unless ``reveal``, re-encoded."""
    image = video_frame(data, at, max_pixels=max_pixels)
    return _preview(image, reveal, size)


def placeholder(message: str, size: tuple[int, int] = (PREVIEW_SIZE, 120)) -> bytes:
    """A neutral grey PNG saying ``message``: where a preview cannot be shown."""
    image = Image.new("L", size, 215)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size[0] - 1, size[1] - 1), outline=150)
    draw.text((12, 12), "No preview", fill=40)
    words, line, y = message.split(), "", 40
    for word in words:  # a plain wrap: the default font is about 6 px a character
        if len(line) + len(word) + 1 > (size[0] - 24) // 6 and line:
            draw.text((12, y), line, fill=40)
            line, y = word, y + 16
        else:
            line = f"{line} {word}".strip()
    if line:
        draw.text((12, y), line, fill=40)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def preview_hit(app: App, hit_id: int, *, reveal: bool = False) -> Preview:
    """Fetch the hit's image from its source now and make its preview. Audit-logged
    (``hit.preview`` or ``hit.reveal``, with the outcome) whether it worked or not."""
    with app.db.session() as session:
        row = session.execute(
            select(Sighting.image_url, Site.allow_private, ImageRow.kind, Hit.query_start)
            .join(Hit, Hit.sighting_id == Sighting.id)
            .join(Site, Site.id == Sighting.site_id)
            .join(ImageRow, ImageRow.id == Sighting.image_id)
            .where(Hit.id == hit_id)
        ).first()
    if row is None:
        raise NotFound(f"no hit with id {hit_id}")
    url, allow_private, kind, query_start = row
    outcome = "shown"
    try:
        try:
            status, body = fetch_image(app, url, allow_private=allow_private)
        except AddressRefused as exc:
            raise PreviewUnavailable(f"refused by the address guard ({exc.reason})") from None
        except ValueError as exc:  # the size cap, too many redirects, a malformed URL
            raise PreviewUnavailable(f"not fetched: {_refusal(exc)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise PreviewUnavailable(f"the source cannot be reached ({_why(exc)})") from None
        if status in (404, 410):
            raise PreviewUnavailable(f"gone at the source: {status}", gone=True)
        if status != 200:
            raise PreviewUnavailable(f"the source answered {status}")
        try:
            if kind == "video":  # the frame where the match starts (a file up to the cap)
                return make_video_preview(
                    body,
                    query_start or 0.0,
                    max_pixels=app.config.max_image_pixels,
                    reveal=reveal,
                )
            return make_preview(body, max_pixels=app.config.max_image_pixels, reveal=reveal)
        finally:
            del body  # the bytes fetched go now, whatever happens
    except PreviewUnavailable as exc:
        outcome = str(exc)
        raise
    finally:
        with app.db.session() as session:
            audit.record(
                session,
                app.actor,
                "hit.reveal" if reveal else "hit.preview",
                "hit",
                hit_id,
                outcome=outcome,
            )


def _refusal(exc: ValueError) -> str:
    """fetch_image's own refusals by name; others (urllib's) may quote the URL."""
    text = str(exc)
    if "size cap" in text:
        return "larger than the image size cap"
    if "redirects" in text:
        return "too many redirects"
    return "a malformed address"


def _why(exc: BaseException) -> str:
    """A short reason without the URL (urllib's messages may quote it)."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return type(exc).__name__
