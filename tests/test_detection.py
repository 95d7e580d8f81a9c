"""The Detector: the decision rule over the index, loaded and refreshed from the database."""

from __future__ import annotations

import io
import json
from pathlib import Path

from conftest import PHOTOS, Env
from PIL import Image, ImageOps
from sqlalchemy import select, update

from monitor.cases import add_case
from monitor.db.models import Case, HashEntry, Hit, ImageHash
from monitor.db.models import Image as ImageRow
from monitor.detection import Detector
from monitor.hashes import NewHash, hash_files, import_hash_file, store_hashes
from monitor.hashing import hash_image_bytes
from monitor.hashing.rule import DecisionRule
from monitor.recording import Observation, known_image, record_page
from monitor.sites import add_site

MAX_PIXELS = 50_000_000


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def photo(stem: str) -> Image.Image:
    return Image.open(PHOTOS / f"{stem}.jpg").convert("RGB")


def views_of(data: bytes, rule: DecisionRule):  # type: ignore[no-untyped-def]
    return hash_image_bytes(
        data, max_pixels=MAX_PIXELS, views=rule.query_views, views_version=rule.version
    )


def test_enrolled_files_store_grouped_views(env: Env, tmp_path: Path) -> None:
    app = env.app
    case_id = add_case(app, "Views")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg(photo("astronaut")))
    (folder / "b.jpg").write_bytes(jpeg(photo("coffee")))
    result = hash_files(app, case_id, [folder])
    assert result.files == 2
    with app.db.session() as session:
        rows = session.execute(
            select(HashEntry.view, HashEntry.group_key, HashEntry.algorithm)
        ).all()
    assert result.added == len(rows)
    groups = {group for _, group, _ in rows}
    assert len(groups) == 2 and None not in groups  # one random token per image
    for group in groups:
        mine = [(view, algorithm) for view, g, algorithm in rows if g == group]
        assert ("original", "pdq") in mine and ("original", "phash") in mine
    assert len(rows) >= 4


def test_a_mirrored_copy_is_a_hit_with_its_view(env: Env, tmp_path: Path) -> None:
    app = env.app
    rule = DecisionRule()
    case_id = add_case(app, "Mirror")
    (tmp_path / "a.jpg").write_bytes(jpeg(photo("chelsea")))
    hash_files(app, case_id, [tmp_path / "a.jpg"])
    detector = Detector(rule)
    loaded = detector.load(app)
    assert loaded.added == len(detector) > 0
    mirrored = views_of(jpeg(ImageOps.mirror(photo("chelsea")), 80), rule)
    hits = detector.detect(mirrored.views)
    assert len(hits) == 1 and hits[0].case_id == case_id and hits[0].algorithm == "pdq"
    assert hits[0].query_view == "flip_h"
    # A plain copy matches several hashes of the one reference image: still one hit, PDQ's.
    plain = views_of(jpeg(photo("chelsea"), 60), rule)
    assert len({c.entry_id for c in detector.candidates(plain.views)}) > 1
    assert [(h.algorithm, h.query_view) for h in detector.detect(plain.views)] == [
        ("pdq", "original")
    ]
    assert not detector.detect(views_of(jpeg(photo("rocket")), rule).views)

    site_id = add_site(app, "http://x.test/")
    observation = Observation(
        "http://x.test/m.jpg", None, "image/jpeg", None, None, mirrored, tuple(hits)
    )
    assert record_page(
        app, site_id=site_id, run_id=None, page_url="http://x.test/", observations=[observation]
    ) == (len(hits), len(hits))
    with app.db.session() as session:
        stored = session.execute(select(Hit.view, Hit.hash_entry_id)).all()
        assert {view for view, _ in stored} == {h.query_view for h in hits}
        # The crawled image's views are stored, so the same bytes are not decoded again.
        views = session.scalars(select(ImageHash.view)).all()
        assert len(views) == len({(v.value.algorithm, v.view) for v in mirrored.views})
    again = known_image(app, mirrored.sha256, rule.version)
    assert again is not None and set(again.views) == set(mirrored.views)
    assert known_image(app, mirrored.sha256, rule.version + 1) is None


def test_a_cropped_copy_is_a_hit_on_a_reference_crop_confirmed_by_pdq(
    env: Env, tmp_path: Path
) -> None:
    app = env.app
    rule = DecisionRule()
    case_id = add_case(app, "Crop")
    (tmp_path / "a.jpg").write_bytes(jpeg(photo("astronaut")))
    hash_files(app, case_id, [tmp_path / "a.jpg"])
    detector = Detector(rule)
    detector.load(app)
    image = photo("astronaut")
    box = (int(image.width * 0.22), int(image.height * 0.05))
    cropped = image.crop(
        (*box, box[0] + int(image.width * 0.76), box[1] + int(image.height * 0.84))
    )
    views = views_of(jpeg(cropped, 75), rule).views
    hits = detector.detect(views)
    assert len(hits) == 1 and hits[0].case_id == case_id
    assert hits[0].algorithm == "phash" and hits[0].reference_view.startswith("crop:")
    # The index, asked within 31, did not return the confirming PDQ of that crop view:
    # distance_to did, for that one view.
    extra = detector.confirmations(views, detector.candidates(views))
    assert any(c.reference_view == hits[0].reference_view for c in extra)
    # Without the confirmation, the pHash of a crop view alone is no hit.
    detector.confirmations = lambda views, candidates: []  # type: ignore[method-assign]
    assert detector.detect(views) == []


def test_refresh_adds_new_entries_and_drops_closed_cases(env: Env, tmp_path: Path) -> None:
    app = env.app
    rule = DecisionRule()
    detector = Detector(rule)
    assert detector.load(app).added == 0
    query = views_of(jpeg(photo("coffee"), 70), rule)
    assert detector.detect(query.views) == []

    case_id = add_case(app, "Added while crawling")
    (tmp_path / "c.jpg").write_bytes(jpeg(photo("coffee")))
    hash_files(app, case_id, [tmp_path / "c.jpg"])
    refreshed = detector.refresh(app)
    assert refreshed.added > 0
    assert {h.case_id for h in detector.detect(query.views)} == {case_id}
    assert detector.refresh(app).added == 0  # nothing new: nothing added twice

    with app.db.session() as session:
        session.execute(update(Case).where(Case.id == case_id).values(status="closed"))
    assert detector.refresh(app).removed == refreshed.added
    assert detector.detect(query.views) == []


def test_entries_of_older_rules_are_not_loaded(env: Env) -> None:
    app = env.app
    case_id = add_case(app, "Old")
    store_hashes(
        app,
        case_id,
        [NewHash("phash", "11" * 8, None), NewHash("phash", "33" * 8, None, 1)],
        source="import",
    )
    detector = Detector()
    loaded = detector.load(app)
    assert (loaded.added, loaded.older_rules) == (1, 1)


def test_exported_views_and_groups_survive_an_import(env: Env, tmp_path: Path) -> None:
    app = env.app
    first = add_case(app, "Export")
    (tmp_path / "a.jpg").write_bytes(jpeg(photo("astronaut")))
    hash_files(app, first, [tmp_path / "a.jpg"])
    from monitor.hashes import export_hashes

    text = export_hashes(app, first).text
    document = json.loads(text)
    assert {e.get("group") for e in document["hashes"]} == {0}
    assert "view" not in json.dumps(document) or any(
        e.get("view", "original") != "original" for e in document["hashes"]
    )
    (tmp_path / "list.json").write_text(text)
    second = add_case(app, "Import")
    added = import_hash_file(app, second, tmp_path / "list.json", strict=True).added
    with app.db.session() as session:
        rows = session.execute(
            select(HashEntry.case_id, HashEntry.view, HashEntry.group_key, HashEntry.value)
        ).all()
    mine = sorted((v, value) for c, v, _, value in rows if c == first)
    theirs = sorted((v, value) for c, v, _, value in rows if c == second)
    assert added == len(mine) and mine == theirs
    tokens = {(c, g) for c, _, g, _ in rows}
    assert len(tokens) == 2  # one group per case, and a fresh token on import
    assert len({g for _, g in tokens}) == 2


def test_images_hashed_by_another_rule_version_are_hashed_again(env: Env) -> None:
    app = env.app
    rule = DecisionRule()
    site_id = add_site(app, "http://x.test/")
    hashes = views_of(jpeg(photo("rocket")), rule)
    record_page(
        app,
        site_id=site_id,
        run_id=None,
        page_url="http://x.test/",
        observations=[
            Observation("http://x.test/r.jpg", None, "image/jpeg", None, None, hashes, ())
        ],
    )
    assert known_image(app, hashes.sha256, rule.version) is not None
    with app.db.session() as session:
        session.execute(update(ImageRow).values(views_version=rule.version - 1))
    assert known_image(app, hashes.sha256, rule.version) is None


def test_pdq_confirmation_by_distance_equals_a_lookup_within_pdq_confirm(
    sqlite_env: Env, tmp_path: Path
) -> None:
    """The index is asked within 31 and PDQ's agreement checked with distance_to: the
    same hits as asking the index within the rule's own lookup distances (64)."""
    from monitor.hashing import rule as rules
    from monitor.samplesite import _copy_bytes, _load_photo

    app = sqlite_env.app
    rule = DecisionRule()
    case_id = add_case(app, "Confirm")
    stems = ("astronaut", "coffee", "chelsea", "rocket")
    for stem in stems:
        (tmp_path / f"{stem}.jpg").write_bytes((PHOTOS / f"{stem}.jpg").read_bytes())
    hash_files(app, case_id, [tmp_path / f"{stem}.jpg" for stem in stems])
    fast = Detector(rule)
    fast.load(app)
    wide = Detector(rule)
    wide.thresholds = dict(rule.thresholds)  # PDQ 64, pHash 14: no confirmation needed
    wide.index = type(fast.index)(wide.thresholds)
    wide.confirmations = lambda views, candidates: []  # type: ignore[method-assign]
    wide.load(app)
    assert rules.PDQ_CONFIRM > fast.thresholds["pdq"]
    confirmed = 0
    for stem in stems:
        photo_ = _load_photo(PHOTOS, stem)
        for transform in ("cropped", "watermarked", "resized", "mirrored", "captioned"):
            views = views_of(_copy_bytes(photo_, transform, "jpg"), rule).views
            got = fast.detect(views)
            assert got == wide.detect(views), (stem, transform)
            extra = fast.confirmations(views, fast.candidates(views))
            confirmed += any(c.distance > fast.thresholds["pdq"] for c in extra)
    assert confirmed  # some copies were hits only thanks to PDQ's agreement beyond 31
