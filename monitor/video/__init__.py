"""Videos: found on watched pages, hashed frame by frame in memory, matched in order.

- ``monitor.video.hashing``: decodes video bytes held in memory (PyAV, FFmpeg's own
  codecs), samples about one frame per second plus scene changes, and hashes each
  sampled frame with PDQ (with its quality); also the file's sha256 and MD5.
- ``monitor.video.matching``: a vPDQ-like matcher: per-frame PDQ distance, the share
  of matched frames in query and reference, frames matched in order (one time
  offset), and the matched time ranges.
- ``monitor.video.synth``: videos made from photographs (camera moves over them) for
  the tests, the sample site and ``benchmarks/video.py``.

Like ``monitor.hashing``, nothing here writes to disk or imports Scrapy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: The frame-hash algorithm's name, as stored (hash entries, hits, hash lists).
VPDQ = "vpdq"
#: Its version: which sampling, cropping and hashing made the frames. Frames of
#: different versions are never compared.
VPDQ_VERSION = 1
#: Frames sampled a second: a crawled video's (cheap: most videos crawled are not hers),
#: and a reference video's (denser, so that a copy, sampled at other instants - trimmed,
#: at another frame rate - still meets a reference frame within a quarter second).
CRAWL_FPS = 1.0
REFERENCE_FPS = 4.0


class VideoRejected(Exception):
    """Bytes that cannot be hashed as a video; ``kind`` is the statistic it is counted under
    (``video_corrupt``, ``video_no_stream``, ``video_too_large``, ``video_too_many_pixels``,
    ``video_no_frames``, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __reduce__(self) -> tuple[type[VideoRejected], tuple[str, str]]:
        return VideoRejected, (self.kind, str(self))


@dataclass(frozen=True)
class Frame:
    """One sampled frame: when it is shown and its PDQ hash."""

    at: float  # seconds from the start of the video
    pdq: str  # 64 lower-case hex digits
    quality: int  # PDQ's quality, 0-100


@dataclass(frozen=True)
class VideoHashes:
    """What is kept of a video: its digests and its sampled frames' hashes, no pixels."""

    sha256: str  # of the bytes hashed (for a partial fetch: of those bytes)
    md5: str
    size: int  # bytes hashed
    width: int
    height: int
    format: str  # container, as FFmpeg names it: "mp4", "webm", "mpegts", ...
    duration: float | None  # seconds, where the container says or the frames show
    frames: tuple[Frame, ...]
    #: Reference side only: the same frames' hashes of the mirrored picture, so that a
    #: flipped copy matches (crawled videos are hashed as they are).
    mirrored: tuple[Frame, ...] = ()
    #: Only part of the file was fetched (a prefix, and its end): its frames cover
    #: what that part holds.
    partial: bool = False


def frames_to_json(frames: tuple[Frame, ...] | list[Frame]) -> list[list[object]]:
    """How frames are stored and exchanged: [[seconds, PDQ hex, quality], ...]."""
    return [[round(f.at, 3), f.pdq, f.quality] for f in frames]


def frames_from_json(rows: object) -> tuple[Frame, ...]:
    """Frames from their stored or exchanged form; ValueError names what is wrong.

    Each row is [seconds, 64 hex digits, quality 0-100]; times must not go back."""
    if not isinstance(rows, list):
        raise ValueError("frames must be a list of [seconds, pdq, quality]")
    frames: list[Frame] = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, list | tuple) or len(row) != 3:
            raise ValueError(f"frame {number}: not [seconds, pdq, quality]")
        at, pdq, quality = row
        if isinstance(at, bool) or not isinstance(at, int | float) or not 0 <= at < 1e7:
            raise ValueError(f"frame {number}: bad time {at!r}")
        if not isinstance(pdq, str) or len(pdq) != 64:
            raise ValueError(f"frame {number}: a PDQ hash has 64 hex digits")
        try:
            int(pdq, 16)
        except ValueError:
            raise ValueError(f"frame {number}: a PDQ hash has 64 hex digits") from None
        if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
            raise ValueError(f"frame {number}: quality must be 0-100")
        if frames and at < frames[-1].at:
            raise ValueError(f"frame {number}: times must not go back")
        frames.append(Frame(float(at), pdq.lower(), quality))
    return tuple(frames)


def frames_digest(frames: tuple[Frame, ...] | list[Frame]) -> str:
    """The sha256 of a frame sequence: the ``value`` of its hash entry (its identity,
    so that the same video's frames are stored once per case)."""
    text = "\n".join(f"{f.at:.3f} {f.pdq} {f.quality}" for f in frames)
    return hashlib.sha256(text.encode()).hexdigest()


#: ISO base media brands of still images (HEIC, AVIF): an ``ftyp`` box but no video.
_IMAGE_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")


def looks_like_video(head: bytes) -> bool:
    """Whether a file's first bytes (256 are enough) are those of a video container: MP4,
    MOV, 3GP (ISO base media, not a HEIC or AVIF still), Matroska/WebM, MPEG-TS and
    MPEG-PS, AVI, Ogg, FLV, ASF/WMV."""
    if head[4:8] == b"ftyp":
        return head[8:12] not in _IMAGE_BRANDS
    return (
        head.startswith(b"\x1a\x45\xdf\xa3")  # EBML: Matroska, WebM
        or (head[:1] == b"G" and len(head) > 188 and head[188:189] == b"G")  # MPEG-TS
        or head.startswith(b"\x00\x00\x01\xba")  # MPEG-PS
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
        or head.startswith(b"OggS")
        or head.startswith(b"FLV\x01")
        or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")  # ASF: WMV
        or head[4:8] in (b"moov", b"mdat", b"wide", b"free")  # QuickTime without ftyp
    )
