"""Hashing: every algorithm obeys the same contract; untrusted bytes are decoded safely."""

from __future__ import annotations

import io
import itertools
import json
import logging
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, Env
from PIL import Image, ImageDraw
from sqlalchemy import select, text, update

from monitor.app import App
from monitor.cases import add_case
from monitor.db import Database, upgrade
from monitor.db.models import HashEntry, ImageHash
from monitor.detection import Detector
from monitor.hashes import NewHash, export_hashes, hash_files, import_hash_file, store_hashes
from monitor.hashing import (
    ALGORITHMS,
    DEFAULT_ALGORITHMS,
    FOREIGN_RULES,
    HASH_SIZE,
    HashInput,
    HashValue,
    ImageHashes,
    ImageRejected,
    current_versions,
    decode_image,
    hash_image_bytes,
)
from monitor.hashing.algorithms import PHash, reference_implementations
from monitor.hashing.base import hamming_hex
from monitor.hashing.registry import _register
from monitor.hashing.resample import fit, pillow_matrix
from monitor.recording import Observation, known_image, record_page
from monitor.sites import add_site

MAX_PIXELS = 64_000_000
PHOTO_NAMES = sorted(p.stem for p in PHOTOS.glob("*.jpg"))
REFERENCES = reference_implementations()


def photo(name: str) -> bytes:
    return (PHOTOS / f"{name}.jpg").read_bytes()


def photo_image(name: str) -> Image.Image:
    return Image.open(io.BytesIO(photo(name))).convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def hashes_of(data: bytes) -> dict[str, str]:
    """Every registered algorithm's hash of ``data``, through the crawler's path."""
    hashes = hash_image_bytes(data, max_pixels=MAX_PIXELS, algorithms=ALGORITHMS.values())
    return {h.algorithm: h.value for h in hashes.hashes}


# --------------------------------------------------------------------------- the registry


def test_algorithm_names_are_unique() -> None:
    with pytest.raises(RuntimeError, match="two hash algorithms named 'phash'"):
        _register([PHash(), PHash()])


def test_registered_is_not_computed_by_default() -> None:
    assert set(DEFAULT_ALGORITHMS) <= set(ALGORITHMS)
    assert DEFAULT_ALGORITHMS == ("pdq", "phash")
    assert "dhash" in ALGORITHMS  # lists of dHashes import and match ...
    computed = hash_image_bytes(photo("rocket"), max_pixels=MAX_PIXELS).hashes
    assert tuple(h.algorithm for h in computed) == DEFAULT_ALGORITHMS  # ... but none is computed


# --------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
class TestAlgorithmContract:
    """The checks every hash algorithm passes (a new plug-in gets them for free)."""

    def test_declaration(self, name: str) -> None:
        algorithm = ALGORITHMS[name]
        assert algorithm.name == name and name.isidentifier() and name == name.lower()
        assert type(algorithm.bits) is int and algorithm.bits > 0 and algorithm.bits % 8 == 0
        assert type(algorithm.version) is int and algorithm.version > 0
        assert type(algorithm.default_threshold) is int
        assert 0 < algorithm.default_threshold < algorithm.bits // 2
        assert algorithm.min_quality is None or 0 <= algorithm.min_quality <= 100

    def test_examples_hash_as_documented(self, name: str) -> None:
        """A change to the rules that changes a hash needs the version bumped."""
        algorithm = ALGORITHMS[name]
        examples = algorithm.get_examples()
        assert len(examples) >= 2
        assert len({e.description for e in examples}) == len(examples)
        computed = {}
        for example in examples:
            assert example.description.strip()
            assert len(example.hex) == algorithm.bits // 4
            assert example.hex == example.hex.lower() and int(example.hex, 16) >= 0
            data = encode(example.build(), "PNG")
            value = hash_image_bytes(data, max_pixels=MAX_PIXELS, algorithms=[algorithm]).hashes
            computed[example.description] = value[0].value
            assert value[0].value == example.hex, (
                f"{name} of example {example.description!r} changed: if that is meant, bump"
                f" {type(algorithm).__name__}.version and update its examples"
                " (python -m monitor.hashing.examples)"
            )
        for a, b in itertools.combinations(computed.values(), 2):
            assert algorithm.distance(a, b) > algorithm.default_threshold

    def test_shape_and_determinism(self, name: str) -> None:
        algorithm = ALGORITHMS[name]
        first = hashes_of(photo("astronaut"))[name]
        assert len(first) == algorithm.bits // 4 and int(first, 16) >= 0
        assert hashes_of(photo("astronaut"))[name] == first
        assert algorithm.distance(first, first) == 0
        # compute() takes a decoded PIL image as well as a HashInput.
        image = photo_image("astronaut")
        assert algorithm.compute(image) == algorithm.compute(HashInput.of(image))

    def test_distance_is_a_metric_on_samples(self, name: str) -> None:
        algorithm = ALGORITHMS[name]
        samples = [hashes_of(photo(p))[name] for p in PHOTO_NAMES]
        samples += [e.hex for e in algorithm.get_examples()]
        for a, b in itertools.product(samples, repeat=2):
            d = algorithm.distance(a, b)
            assert d == algorithm.distance(b, a) and 0 <= d <= algorithm.bits
            assert (d == 0) == (a == b)
        for a, b, c in itertools.combinations(samples, 3):
            assert algorithm.distance(a, c) <= algorithm.distance(a, b) + algorithm.distance(b, c)

    def test_copies_match_and_unrelated_photos_do_not(self, name: str) -> None:
        algorithm = ALGORITHMS[name]
        original = photo_image("coffee")
        reference = hashes_of(photo("coffee"))[name]
        copies = [
            encode(original.resize((original.width // 2, original.height // 2))),
            encode(original, quality=30),
            encode(original, "PNG"),
            encode(original.convert("L").convert("RGB")),
            encode(original.resize((original.width * 4, original.height * 4))),
        ]
        for copy in copies:
            assert (
                algorithm.distance(reference, hashes_of(copy)[name]) <= algorithm.default_threshold
            )
        for other in ("camera", "hubble", "brick", "gravel", "grass", "ihc"):
            distance = algorithm.distance(reference, hashes_of(photo(other))[name])
            assert distance > algorithm.default_threshold * 2, (other, distance)


# --------------------------------------------------------------------------- vs the references


def native_samples() -> list[Image.Image]:
    """Images that fit HASH_SIZE (hashed at their own size), of every shape."""
    samples = []
    for name in PHOTO_NAMES:
        image = photo_image(name)
        samples += [image, image.resize((300, 200)), image.rotate(7).resize((137, 411))]
    return samples


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_same_bits_as_the_reference_implementation_at_nominal_size(name: str) -> None:
    """pdqhash.compute / imagehash.phash / imagehash.dhash of the same image, exactly."""
    algorithm = ALGORITHMS[name]
    for image in native_samples():
        prepared = HashInput.of(image)
        assert prepared.image is prepared.pixels
        assert algorithm.compute(prepared).value == REFERENCES[name](prepared.image)


def test_pdq_quality_is_pdqhash_quality() -> None:
    import pdqhash

    for image in native_samples():
        grey = np.asarray(HashInput.of(image).pixels)
        _vector, quality = pdqhash.compute(np.ascontiguousarray(np.dstack([grey] * 3)))
        assert ALGORITHMS["pdq"].compute(image).quality == quality


#: Largest difference seen from the reference on the nominal image built by Pillow, when
#: the decoded image is larger than the nominal one (Pillow rounds the nominal image to
#: 8 bits; the projection does not). Measured on these samples: 2, 4 and 6 bits.
REDUCED_BOUNDS = {"pdq": 4, "phash": 4, "dhash": 8}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_close_to_the_reference_implementation_when_reduced(name: str) -> None:
    algorithm = ALGORITHMS[name]
    distances = []
    for image_name in PHOTO_NAMES:
        image = photo_image(image_name)
        for size in ((700, 500), (1000, 700), (400, 1200)):
            prepared = HashInput.of(image.resize(size, Image.Resampling.BICUBIC))
            assert prepared.size != prepared.pixels.size
            reference = REFERENCES[name](prepared.image)
            distances.append(algorithm.distance(algorithm.compute(prepared).value, reference))
    assert max(distances) <= REDUCED_BOUNDS[name], distances
    assert np.mean(distances) <= 1.0, distances


#: The hashes of the test photos under version 1 of the rules (RGB decoding, Pillow's
#: thumbnail to 512 px, pdqhash and imagehash), for the record.
V1_HASHES = {
    "astronaut": ("2d6f1af3a956c529c79ca3d2526fa834d4196c81cedd04de0a26b855fc99b724", "c2924c5532bddfc8"),
    "brick": ("bed7058ba2005a4b071bb8a4cc7278789fbc02cfcd30d1d73fa71673c67944d2", "a2898b1566fd46f1"),
    "camera": ("dc9c9d3b746978f888f40ce6e5c3f70f7266623e8d989cb99f21f2010841e1c7", "bff1c1c0434e8cbc"),
    "chelsea": ("5feb5321f01da156898e2bf629a5d3438412cdbd23f48942464526315db33ffd", "b15fe6465121175e"),
    "coffee": ("04629e769e66365cb983b8668827f27c21a779e61e36e1f8c79927e27c8299e0", "bb8320376c0f3637"),
    "grass": ("4d9744ef90f2838aad0cc467c8d3a1f626c43658a77772688de65daa09c38bb7", "92f2e18ba30b770d"),
    "gravel": ("175218961ce0d0e173a59bdf48d052f73a3c1632c4927712365efbbe569c8177", "c6771cbe3d2424a6"),
    "hubble": ("1ce735e66266634f729429a232cad317e60e86be9c60dc59a42ec39c7379b919", "84cc4f96ba4d133e"),
    "ihc": ("d359e15bfc0e7e848183e670de26db0b8309e9b06cb6ac4becc9b073ba52f026", "af3225e7c9691686"),
    "rocket": ("8792786c8f9350e4af1bc0e03f1fc0e03f1cc2f33da482737dcc821b24ecf376", "c0371bec1be51267"),
}  # fmt: skip


def test_version_2_moves_the_test_photos_by_a_few_bits_at_most() -> None:
    for name, (pdq, phash) in V1_HASHES.items():
        now = hashes_of(photo(name))
        assert hamming_hex(pdq, now["pdq"]) <= 4, name
        assert hamming_hex(phash, now["phash"]) <= 2, name


# --------------------------------------------------------------------------- resampling


def test_fit_is_pillows_thumbnail_size() -> None:
    for size in [(512, 512), (513, 512), (1000, 1), (1, 1000), (1414, 1414), (1732, 1155),
                 (1155, 1732), (4000, 3), (641, 427), (300, 200), (2121, 1414), (999, 1001)]:  # fmt: skip
        image = Image.new("L", size)
        image.thumbnail((HASH_SIZE, HASH_SIZE))
        assert fit(size) == image.size, size


@pytest.mark.parametrize("kind", ["lanczos", "bilinear"])
def test_pillow_matrix_is_pillows_filter(kind: str) -> None:
    """Pillow's resize, on images that are one row (no second pass, no 8-bit rounding
    of an intermediate image), equals the matrix product to within its rounding."""
    rng = np.random.default_rng(7)
    resample = {"lanczos": Image.Resampling.LANCZOS, "bilinear": Image.Resampling.BILINEAR}
    for width, out in [(512, 32), (500, 9), (707, 512), (40, 32), (300, 300), (20, 64)]:
        row = rng.integers(0, 256, (1, width), dtype=np.uint8)
        expected = np.asarray(Image.fromarray(row).resize((out, 1), resample[kind]), dtype=float)
        projected = np.clip(pillow_matrix(kind, out, width) @ row[0], 0, 255)
        assert np.abs(projected - expected[0]).max() <= 0.5 + 1e-6, (width, out)


def test_hash_input_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="luma"):
        HashInput(Image.new("RGB", (10, 10)))
    with pytest.raises(ValueError, match="does not fit"):
        HashInput(Image.new("L", (10, 10)), (11, 10))
    assert HashInput(Image.new("L", (2000, 1000))).size == (512, 256)


def test_pdq_of_tiny_images_is_empty() -> None:
    value = ALGORITHMS["pdq"].compute(Image.new("RGB", (4, 40), (255, 0, 0)))
    assert value.value == "0" * 64 and value.quality == 0


# --------------------------------------------------------------------------- decoding


def test_pdq_quality_is_reported_and_flat_images_are_unusable() -> None:
    flat = encode(Image.new("RGB", (300, 300), (120, 120, 120)))
    pdq = hash_image_bytes(flat, max_pixels=MAX_PIXELS).get("pdq")
    assert pdq is not None and pdq.quality is not None and pdq.quality < 50
    assert not ALGORITHMS["pdq"].usable(pdq)
    good = hash_image_bytes(photo("rocket"), max_pixels=MAX_PIXELS).get("pdq")
    assert good is not None and ALGORITHMS["pdq"].usable(good)


def test_hamming_hex() -> None:
    assert hamming_hex("00", "ff") == 8
    assert hamming_hex("0f0f", "0f0e") == 1
    with pytest.raises(ValueError):
        hamming_hex("00", "000")


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "data, kind",
    [
        (b"", "empty"),
        (b"<html>not an image</html>", "not_image"),
        (photo("coffee")[:4000], "corrupt"),
        (photo("coffee")[:200] + b"\0garbage" * 500, "corrupt"),
        (png_declaring(30000, 30000), "too_many_pixels"),
        (png_declaring(100_000, 100_000), "too_many_pixels"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not_image"),
    ],
)
def test_bad_bytes_are_rejected_with_a_kind(data: bytes, kind: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, max_pixels=MAX_PIXELS)
    assert caught.value.kind == kind


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(ImageRejected) as caught:
        decode_image(photo("astronaut"), max_pixels=512 * 511)
    assert caught.value.kind == "too_many_pixels"
    assert decode_image(photo("astronaut"), max_pixels=512 * 512).width == 512


def test_unusual_images_decode_to_luma() -> None:
    base = photo_image("chelsea")
    samples = {
        "cmyk": encode(base.convert("CMYK")),
        "palette": encode(base.convert("P"), "PNG"),
        "transparent": encode(base.convert("RGBA"), "PNG"),
        "gray16": encode(
            Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 256), "PNG"
        ),
        "gif": encode(base, "GIF", save_all=True, append_images=[base.rotate(5)]),
        "webp": encode(base, "WEBP"),
        "bmp": encode(base, "BMP"),
        "tiff": encode(base, "TIFF"),
        "mpo": encode(base, "MPO", save_all=True, append_images=[base.rotate(5)]),
    }
    reference = hashes_of(photo("chelsea"))["phash"]
    for name, data in samples.items():
        decoded = decode_image(data, max_pixels=MAX_PIXELS)
        assert decoded.input.pixels.mode == "L" and decoded.image.mode == "L", name
        assert hamming_hex(reference, hashes_of(data)["phash"]) <= 12, name


def test_transparency_is_shown_on_white() -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 0, 49, 99), fill=(0, 0, 0, 255))
    pixels = np.asarray(decode_image(encode(image, "PNG"), max_pixels=MAX_PIXELS).image)
    assert (pixels[:, :50] == 0).all() and (pixels[:, 50:] == 255).all()


def test_exif_rotation_is_applied() -> None:
    base = photo_image("rocket")
    rotated = base.rotate(90, expand=True)  # stored sideways, EXIF says "rotate back"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    data = encode(rotated, exif=exif.tobytes())
    decoded = decode_image(data, max_pixels=MAX_PIXELS)
    assert decoded.image.size == base.size
    assert hamming_hex(hashes_of(photo("rocket"))["pdq"], hashes_of(data)["pdq"]) <= 31
    # The same on a large image, where the JPEG is decoded at a reduced scale.
    big = base.resize((base.width * 4, base.height * 4)).rotate(90, expand=True)
    decoded = decode_image(encode(big, exif=exif.tobytes()), max_pixels=MAX_PIXELS)
    assert (
        decoded.input.size == base.size and decoded.input.pixels.width > decoded.input.pixels.height
    )
    assert hamming_hex(hashes_of(photo("rocket"))["pdq"], hashes_of(encode(big, exif=exif.tobytes()))["pdq"]) <= 31  # fmt: skip


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_large_images_are_reduced_before_hashing(fmt: str) -> None:
    big = photo_image("astronaut").resize((3000, 2000))
    ImageDraw.Draw(big).rectangle((0, 0, 10, 10), fill=(0, 0, 0))
    decoded = decode_image(encode(big, fmt), max_pixels=MAX_PIXELS)
    assert (decoded.width, decoded.height) == (3000, 2000)
    nominal = decoded.input.size
    assert nominal == (512, 341) == decoded.image.size
    # JPEG: decoded at 1/4 scale; PNG: averaged by 5x5 blocks. Never below the nominal size.
    assert decoded.input.pixels.size == {"JPEG": (750, 500), "PNG": (600, 400)}[fmt]


def test_jpeg_scaling_never_goes_below_the_nominal_size() -> None:
    for size in [(513, 300), (1024, 1024), (1100, 700), (4100, 4100), (5000, 600), (600, 5000)]:
        data = encode(Image.new("RGB", size, (200, 100, 50)))
        prepared = decode_image(data, max_pixels=MAX_PIXELS).input
        width, height = prepared.pixels.size
        assert prepared.size == fit(size)
        assert prepared.size[0] <= width < 2 * prepared.size[0] + 1, (size, prepared.pixels.size)
        assert prepared.size[1] <= height, (size, prepared.pixels.size)


# --------------------------------------------------------------------------- rules versions


def _entries(app: App) -> list[tuple[str, int, str]]:
    """(algorithm, rules_version, source) of every plain hash entry (the decision rule's
    other views left out), in order."""
    with app.db.session() as session:
        rows = session.execute(
            select(HashEntry.algorithm, HashEntry.rules_version, HashEntry.source)
            .where(HashEntry.view == "original")
            .order_by(HashEntry.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_every_stored_hash_carries_its_rules_version(env: Env, tmp_path: Path) -> None:
    app = env.app
    current = current_versions()
    case_id = add_case(app, "Versions")
    hash_files(app, case_id, [PHOTOS / "rocket.jpg"])  # computed here: the current rules
    text_list = tmp_path / "list.txt"
    text_list.write_text(f"phash {'ab' * 8}\n")  # made elsewhere: it does not say
    import_hash_file(app, case_id, text_list, strict=True)
    assert _entries(app) == [
        ("pdq", current["pdq"], "file"),
        ("phash", current["phash"], "file"),
        ("dhash", current["dhash"], "file"),
        ("md5", 1, "file"),  # the file's MD5, for exchange
        ("phash", FOREIGN_RULES, "import"),
    ]
    # Our export says which rules made each hash, and an import keeps it.
    exported = json.loads(export_hashes(app, case_id).text)
    exported["hashes"] = [h for h in exported["hashes"] if "view" not in h]  # plain ones
    assert [h["rules_version"] for h in exported["hashes"]] == [
        current["pdq"],
        current["phash"],
        current["dhash"],
        1,
        FOREIGN_RULES,
    ]
    exported["hashes"][0]["rules_version"] = 1
    del exported["signature"]  # changed after it was signed: imported unsigned
    again = tmp_path / "export.json"
    again.write_text(json.dumps(exported))
    other = add_case(app, "Copy")
    report = import_hash_file(app, other, again, strict=True)
    assert (report.added, report.duplicates) == (5, 0)
    with app.db.session() as session:
        versions = session.scalars(
            select(HashEntry.rules_version).where(HashEntry.case_id == other).order_by(HashEntry.id)
        ).all()
    assert versions == [1, current["phash"], current["dhash"], 1, FOREIGN_RULES]


def test_references_of_older_rules_are_not_matched(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    app = env.app
    case_id = add_case(app, "Old and new")
    store_hashes(
        app,
        case_id,
        [
            NewHash("phash", "11" * 8, None),  # the current rules
            NewHash("phash", "22" * 8, None, FOREIGN_RULES),  # made elsewhere
            NewHash("phash", "33" * 8, None, 1),  # version 1 of the rules: not comparable
            NewHash("pdq", "44" * 32, None, 1),
        ],
        source="import",
    )
    with caplog.at_level(logging.WARNING, logger="monitor.detection"):
        assert _loaded(app) == ["11" * 8, "22" * 8]
    assert "2 reference hashes were made by older hashing rules" in caplog.text
    # Hashing the same image again under the current rules brings a stale entry back.
    added, duplicates = store_hashes(app, case_id, [NewHash("phash", "33" * 8, "x")], source="file")
    assert (added, duplicates) == (0, 1)
    assert _loaded(app) == ["11" * 8, "22" * 8, "33" * 8]


def _loaded(app: App) -> list[str]:
    """The pHash values a crawl's Detector loads (of the candidates used in these tests)."""
    detector = Detector()
    detector.load(app)
    candidates = ["11" * 8, "22" * 8, "33" * 8]
    return [
        value
        for value in candidates
        if any(m.distance == 0 for m in detector.index.match([HashValue("phash", value)]))
    ]


def test_image_hashes_of_older_rules_are_computed_again(env: Env) -> None:
    app = env.app
    site_id = add_site(app, "http://x.test/", allow_private=False)
    data = photo("chelsea")
    hashes = hash_image_bytes(data, max_pixels=MAX_PIXELS)

    def record(image_hashes: ImageHashes) -> None:
        observation = Observation(
            "http://x.test/a.jpg", None, "image/jpeg", None, None, image_hashes, ()
        )
        record_page(
            app, site_id=site_id, run_id=None, page_url="http://x.test/", observations=[observation]
        )

    record(hashes)
    assert known_image(app, hashes.sha256) == hashes
    with app.db.session() as session:  # as if hashed by version 1 of the rules
        session.execute(update(ImageHash).values(rules_version=1, value="00" * 8))
    assert known_image(app, hashes.sha256) is None  # so the crawler hashes it again
    record(hashes)
    assert known_image(app, hashes.sha256) == hashes
    with app.db.session() as session:
        rows = session.execute(select(ImageHash.algorithm, ImageHash.rules_version)).all()
    assert sorted(rows) == sorted((a, current_versions()[a]) for a in DEFAULT_ALGORITHMS)


def test_migration_0002_marks_imported_lists_as_foreign(database_url: str) -> None:
    database = Database(database_url)
    try:
        upgrade(database, "0001")
        now = datetime.now(UTC)
        with database.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO cases (id, name_enc, language, status, created_at)"
                     " VALUES (1, :name, 'en', 'open', :now)"),
                {"name": b"x", "now": now},
            )  # fmt: skip
            for i, source in enumerate(("file", "import", "file")):
                connection.execute(
                    text("INSERT INTO hash_entries (case_id, algorithm, value, source, created_at)"
                         " VALUES (1, 'phash', :value, :source, :now)"),
                    {"value": f"{i:016x}", "source": source, "now": now},
                )  # fmt: skip
        upgrade(database)
        with database.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT source, rules_version FROM hash_entries ORDER BY id")
            ).all()
        assert [tuple(r) for r in rows] == [("file", 1), ("import", 0), ("file", 1)]
    finally:
        database.dispose()
