"""Property-based tests of the hash-list reader and writer (monitor.hashlists).

A hash list is untrusted input: whatever the bytes, parse_hash_list returns entries or
raises HashListError, and what it returns survives export_json and a second reading.
"""

from __future__ import annotations

import csv
import io
import re
import string
from typing import Any

import pytest
from fuzz_checks import ALGORITHMS, _key, _partition, check_hash_list, round_trip
from fuzz_profile import fuzz_settings
from hypothesis import event, example, given
from hypothesis import strategies as st

from monitor.hashlists import (
    MAX_LABEL_CHARS,
    HashListError,
    export_json,
    normalise_hex,
    parse_hash_list,
    read_hash_list,
)

SETTINGS = fuzz_settings(200)

algorithms = st.sampled_from(sorted(ALGORITHMS))


@st.composite
def hex_of(draw: st.DrawFn, algorithm: str) -> str:
    digits = draw(
        st.text(
            alphabet=string.hexdigits,
            min_size=ALGORITHMS[algorithm] // 4,
            max_size=ALGORITHMS[algorithm] // 4,
        )
    )
    return digits


# A label the writer accepts: no control characters, at most MAX_LABEL_CHARS once stripped.
labels = st.none() | st.text(
    st.characters(blacklist_categories=["Cc", "Cs"]) | st.just("\t"), max_size=MAX_LABEL_CHARS
).filter(lambda label: len(label.strip()) <= MAX_LABEL_CHARS)
views = st.none() | st.just("original") | st.from_regex(r"[A-Za-z0-9:/_.+\-]{1,40}", fullmatch=True)
groups = st.none() | st.integers(0, 5) | st.sampled_from(["img-a", "img-b", ("x", 1)])


@st.composite
def entries(draw: st.DrawFn) -> tuple[Any, ...]:
    algorithm = draw(algorithms)
    written = draw(st.sampled_from([algorithm, algorithm.upper(), f" {algorithm}\t"]))
    return (
        written,
        draw(hex_of(algorithm)),
        draw(labels),
        draw(st.none() | st.integers(0, 1000)),
        draw(views),
        draw(groups),
    )


# --------------------------------------------------------------------------- round trip


@SETTINGS
@given(st.lists(entries(), min_size=1, max_size=15))
def test_export_then_parse_gives_the_entries_back(written: list[tuple[Any, ...]]) -> None:
    """Every entry export_json accepts comes back: algorithm and hex normalised to lower
    case, the label stripped (empty: None), rules version, view, and which entries share
    an image; lines count the entries."""
    parsed = parse_hash_list(export_json(written), ALGORITHMS)
    expected = [
        (
            algorithm.strip().lower(),
            value.lower(),
            (label.strip() or None) if label is not None else None,
            rules,
            None if view in (None, "original") else view,
        )
        for algorithm, value, label, rules, view, _group in written
    ]
    assert [_key(entry) for entry in parsed] == expected
    assert _partition([entry.group for entry in parsed]) == _partition(
        [None if g is None else hash(g) for *_, g in written]
    )
    assert [entry.line for entry in parsed] == list(range(1, len(written) + 1))
    round_trip(parsed)


@SETTINGS
@given(
    st.lists(
        st.tuples(algorithms, st.data(), labels.filter(lambda x: x is None or "\n" not in x)),
        min_size=1,
        max_size=10,
    ),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_csv_lists_round_trip(rows: list[tuple[str, Any, str | None]], eol: str, bom: bool) -> None:
    """A CSV list written by the csv module (labels quoted as needed: commas, quotes)
    reads back as written."""
    drawn = [(a, data.draw(hex_of(a)), label) for a, data, label in rows]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=eol)
    writer.writerow(["label", "Hash", "ALGORITHM"])
    for algorithm, value, label in drawn:
        writer.writerow([label or "", value, algorithm])
    text = ("\ufeff" if bom else "") + buffer.getvalue()
    try:
        parsed = parse_hash_list(text.encode(), ALGORITHMS)
    except HashListError as exc:
        # A label in a CSV field is stripped of spaces around it; one that is only the
        # quote character or blank is read as no label. Anything else must parse.
        raise AssertionError(f"{exc}: {text!r}") from None
    assert [(p.algorithm, p.value, p.label) for p in parsed] == [
        (a, v.lower(), (label.strip() or None) if label else None) for a, v, label in drawn
    ]
    assert [p.line for p in parsed] == list(range(2, len(drawn) + 2))


@SETTINGS
@given(
    st.lists(st.tuples(algorithms, st.data(), st.text("abc xyz_-.é漢", max_size=30)), min_size=1),
    st.sampled_from([" ", "\t", "   "]),
)
def test_algorithm_lines_round_trip(rows: list[tuple[str, Any, str]], space: str) -> None:
    drawn = [(a, data.draw(hex_of(a)), label) for a, data, label in rows]
    text = "# exported\n\n" + "".join(f"{a}{space}{v}{space}{label}\n" for a, v, label in drawn)
    parsed = parse_hash_list(text, ALGORITHMS)
    assert [(p.algorithm, p.value, p.label, p.line) for p in parsed] == [
        (a, v.lower(), label.strip() or None, n) for n, (a, v, label) in enumerate(drawn, start=3)
    ]


@SETTINGS
@given(st.lists(st.tuples(st.data(), st.none() | st.integers(0, 100)), min_size=1, max_size=20))
def test_bare_pdq_lines_round_trip(rows: list[tuple[Any, int | None]]) -> None:
    drawn = [(data.draw(hex_of("pdq")), quality) for data, quality in rows]
    text = "".join(f"{v},{q}\n" if q is not None else f"{v}\n" for v, q in drawn)
    parsed = parse_hash_list(text, ALGORITHMS)
    assert [(p.algorithm, p.value, p.quality) for p in parsed] == [
        ("pdq", v.lower(), q) for v, q in drawn
    ]


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["pdq", "PHash ", " x", "a b", "", "\x00", "\u0130", "md5"]),
            st.text(string.hexdigits, min_size=1, max_size=70)
            | st.text(string.hexdigits + "xg ", max_size=70),
            labels | st.text(max_size=210),
            st.none() | st.integers(0, 1000) | st.sampled_from([-1, 1001, True, 2.0]),
            views | st.text(max_size=45),
            groups,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_export_refuses_what_parse_would_not_read(written: list[tuple[Any, ...]]) -> None:
    """export_json either raises ValueError or writes a list that reads back."""
    try:
        text = export_json(written)
    except ValueError as exc:
        assert str(exc).startswith("entry ")
        event("refused")
        return
    event("written")
    known: dict[str, int] = {}
    for algorithm, value, *_ in written:
        known.setdefault(algorithm.strip().lower(), len(value) * 4)
    parsed = (
        parse_hash_list(text, known)
        if all(known[a.strip().lower()] == len(v) * 4 for a, v, *_ in written)
        else None
    )
    if parsed is not None:
        assert [(p.algorithm, p.value) for p in parsed] == [
            (a.strip().lower(), v.lower()) for a, v, *_ in written
        ]
        round_trip_with(parsed, known)


def round_trip_with(entries: list[Any], known: dict[str, int]) -> None:
    again = parse_hash_list(
        export_json(
            (e.algorithm, e.value, e.label, e.rules_version, e.view, e.group) for e in entries
        ),
        known,
    )
    assert [_key(e) for e in again] == [_key(e) for e in entries]


# --------------------------------------------------------------------------- hostile input

_tokens = st.sampled_from(
    [
        "pdq",
        "PHASH",
        "dhash",
        "md5",
        "f" * 64,
        "0" * 16,
        "0x" + "a" * 14,
        "g" * 16,
        "٣" * 16,
        "algorithm",
        "hash",
        "label",
        ",",
        '"',
        " ",
        "\t",
        "\n",
        "\r\n",
        "#",
        "{",
        "[",
        "]",
        "}",
        ":",
        '"hashes"',
        '"algorithm"',
        '"hash"',
        "null",
        "1e400",
        "\x00",
        "\ufeff",
        "\u2028",
        "\x1b[31m",
        "100",
        "101",
        "-1",
    ]
)


@SETTINGS
@given(st.lists(_tokens, max_size=60).map("".join))
@example("pdq " + "f" * 64 + " label\n" + "phash " + "0" * 16 + "\r\n")
@example("[" * 100_000)
@example('{"hashes": [{"algorithm": "pdq", "hash": "' + "f" * 64 + '", "group": 1e400}]}')
@example("algorithm,hash\n" + 'pdq,"' + "f" * 64)
def test_token_soup_is_parsed_or_refused(text: str) -> None:
    """Text made of the formats' own pieces (so the parser gets past its first checks):
    HashListError or entries that round-trip, never another exception."""
    check_hash_list(text)
    check_hash_list(text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.binary(max_size=2000))
@example(b"\xff\xfep\x00d\x00q\x00")
@example(b"pdq " + b"f" * 64 + b" \xc3\x28")
def test_arbitrary_bytes_are_parsed_or_refused(data: bytes) -> None:
    check_hash_list(data)


@SETTINGS
@given(st.text(max_size=500))
@example("pdq " + "f" * 64 + " \ud800")
def test_arbitrary_text_is_parsed_or_refused(text: str) -> None:
    check_hash_list(text)


@SETTINGS
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "format",
                        "version",
                        "hashes",
                        "algorithm",
                        "hash",
                        "label",
                        "quality",
                        "rules_version",
                        "view",
                        "group",
                        "x",
                    ]
                ),
                inner,
                max_size=6,
            )
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_is_parsed_or_refused(document: Any) -> None:
    import json

    check_hash_list(json.dumps(document))
    check_hash_list(json.dumps({"hashes": [document]}))


# --------------------------------------------------------------------------- normalise_hex


@SETTINGS
@given(
    st.text(max_size=80) | st.text(string.hexdigits + "xX ", max_size=80),
    st.sampled_from([4, 8, 16, 64, 256]),
)
def test_normalise_hex_accepts_exactly_ascii_hex_of_the_length(value: str, bits: int) -> None:
    valid = re.fullmatch(f"[0-9a-fA-F]{{{bits // 4}}}", value) is not None
    try:
        result = normalise_hex(value, bits)
    except ValueError as exc:
        assert not valid, value
        assert str(exc)
        return
    assert valid, value
    assert result == value.lower()


@pytest.mark.parametrize("bits", [0, -4, 6, True, 2.0, "64"])
def test_normalise_hex_refuses_bad_bit_lengths(bits: Any) -> None:
    with pytest.raises(ValueError, match="bit length"):
        normalise_hex("ab", bits)


# --------------------------------------------------------------------------- lenient reading

_LINE_PARTS = st.sampled_from(
    ["pdq ", "phash ", "md5 ", "video_md5 ", "foo ", ",", " ", "90", "#", "zz", "\t", "é"]
)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.lists(_LINE_PARTS | st.text(string.hexdigits, max_size=66), max_size=5).map("".join),
            hex_of("pdq"),
        ),
        max_size=12,
    )
)
def test_the_lenient_reading_keeps_each_good_line_and_rejects_each_bad_one(
    lines: list[str],
) -> None:
    """read_hash_list either refuses the whole file (HashListError) or accounts for every
    significant line once: read, or rejected with its number. The strict reading raises
    exactly when something was rejected, naming the first rejection."""
    text = "\n".join(lines)
    known = {**ALGORITHMS, "md5": 128}
    try:
        parsed = read_hash_list(text, known)
    except HashListError:
        with pytest.raises(HashListError):
            parse_hash_list(text, known)
        return
    numbers = [h.line for h in parsed.hashes] + [r.number for r in parsed.rejected]
    assert len(numbers) == len(set(numbers))
    significant = [
        n
        for n, line in enumerate(text.split("\n"), start=1)
        if line.strip() and not line.strip().startswith("#")
    ]
    if parsed.format == "csv":
        significant = significant[1:]  # the header
    assert sorted(numbers) == significant
    for rejection in parsed.rejected:
        assert rejection.reason and rejection.where == "line"
    if parsed.rejected:
        first = min(parsed.rejected, key=lambda r: r.number)
        with pytest.raises(HashListError, match=re.escape(str(first))):
            parse_hash_list(text, known)
    else:
        assert parse_hash_list(text, known) == parsed.hashes
