"""Tests for monitor.hashlists: every accepted format, and every rejection with its line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.hashlists import (
    HashListError,
    ParsedHash,
    export_json,
    normalise_hex,
    parse_hash_list,
)

ALGORITHMS = {"pdq": 256, "phash": 64}

# Distinct, realistic-length values (PDQ: 64 hex digits, pHash: 16).
PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
PHASH_A = "d1c4a6b2e0f8c3a5"
PHASH_B = "8f373714acfcf4d0"

FIXED_NOW = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)


def parse(text: str | bytes) -> list[ParsedHash]:
    return parse_hash_list(text, ALGORITHMS)


def error_of(text: str | bytes) -> HashListError:
    with pytest.raises(HashListError) as info:
        parse(text)
    return info.value


# --------------------------------------------------------------------------- normalise_hex


def test_normalise_hex_lowercases_valid_hex() -> None:
    assert normalise_hex(PHASH_A.upper(), 64) == PHASH_A
    assert normalise_hex(PDQ_A, 256) == PDQ_A


@pytest.mark.parametrize(
    ("value", "bits", "reason"),
    [
        ("0x" + PHASH_A[:14], 64, "a '0x' prefix is not accepted; give the hex digits only"),
        ("0X" + PHASH_A[:14], 64, "a '0x' prefix is not accepted; give the hex digits only"),
        (PHASH_A[:15], 64, "expected 16 hex digits (64 bits), found 15"),
        (PHASH_A + "0", 64, "expected 16 hex digits (64 bits), found 17"),
        ("", 64, "expected 16 hex digits (64 bits), found 0"),
        (PHASH_A[:15] + "g", 64, "non-hex character 'g' at position 16"),
        # int(x, 16) would accept both of these; a hash list must not.
        ("d1c4_6b2e0f8c3a5", 64, "non-hex character '_' at position 5"),
        ("\u0663" + PHASH_A[1:], 64, "non-hex character '\u0663' at position 1"),
        (" " + PHASH_A, 64, "non-hex character ' ' at position 1"),
        (PHASH_A, 63, "bit length must be a positive multiple of 4, got 63"),
        (PHASH_A, 0, "bit length must be a positive multiple of 4, got 0"),
    ],
)
def test_normalise_hex_rejects_with_reason(value: str, bits: int, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        normalise_hex(value, bits)
    assert str(info.value) == reason


# --------------------------------------------------------------------------- ALGORITHM HEX [label]


def test_algorithm_lines_with_and_without_labels() -> None:
    text = f"pdq {PDQ_A} photo 3, beach\nphash\t{PHASH_A}\n"
    assert parse(text) == [
        ParsedHash("pdq", PDQ_A, "photo 3, beach", 1),
        ParsedHash("phash", PHASH_A, None, 2),
    ]


def test_algorithm_lines_are_case_insensitive_and_normalised() -> None:
    text = f"PDQ   {PDQ_A.upper()}    Label With  Inner Spaces   \nPHash {PHASH_A.upper()}\n"
    assert parse(text) == [
        ParsedHash("pdq", PDQ_A, "Label With  Inner Spaces", 1),
        ParsedHash("phash", PHASH_A, None, 2),
    ]


def test_comments_and_blank_lines_are_skipped_but_counted() -> None:
    text = (
        "# exported by the helpline\n\n   \n  # indented comment\n"
        f"pdq {PDQ_A} first\n\n# more\nphash {PHASH_A}\n"
    )
    hashes = parse(text)
    assert [(h.algorithm, h.line, h.label) for h in hashes] == [
        ("pdq", 5, "first"),
        ("phash", 8, None),
    ]


def test_duplicates_are_returned_as_is() -> None:
    text = f"pdq {PDQ_A}\npdq {PDQ_A.upper()}\n"
    assert parse(text) == [ParsedHash("pdq", PDQ_A, None, 1), ParsedHash("pdq", PDQ_A, None, 2)]


def test_registry_names_are_matched_case_insensitively() -> None:
    assert parse_hash_list(f"pdq {PDQ_A}", {"PDQ": 256}) == [ParsedHash("pdq", PDQ_A, None, 1)]


def test_unknown_algorithm_names_the_line() -> None:
    text = "\n".join(
        ["# header", f"pdq {PDQ_A}", "", f"phash {PHASH_A}", "", "", f"foo {PHASH_A}", "bar x"]
    )
    error = error_of(text)
    assert str(error) == "line 7: unknown algorithm 'foo'"
    assert error.line == 7


def test_unknown_algorithm_on_first_line() -> None:
    assert str(error_of(f"md5 {PHASH_A}")) == "line 1: unknown algorithm 'md5'"


def test_wrong_length_names_expected_and_found() -> None:
    error = error_of(f"pdq {PDQ_A}\nphash {PHASH_A}0\n")
    assert str(error) == "line 2: phash hash: expected 16 hex digits (64 bits), found 17"
    assert error.line == 2


def test_non_hex_character() -> None:
    error = error_of(f"phash {PHASH_A}\n\nphash {PHASH_A[:10]}zz{PHASH_A[12:]}\n")
    assert str(error) == "line 3: phash hash: non-hex character 'z' at position 11"


def test_0x_prefix_is_rejected() -> None:
    error = error_of(f"phash 0x{PHASH_A}\n")
    assert (
        str(error) == "line 1: phash hash: a '0x' prefix is not accepted; give the hex digits only"
    )


def test_missing_hash_after_algorithm() -> None:
    assert str(error_of(f"pdq {PDQ_A}\npdq\n")) == "line 2: missing pdq hash"


def test_first_bad_line_is_reported() -> None:
    error = error_of(f"pdq {PDQ_A}\nfoo {PDQ_A}\nphash abc\n")
    assert error.line == 2


def test_bare_hash_among_algorithm_lines_is_mixed_formats() -> None:
    error = error_of(f"pdq {PDQ_A}\n{PDQ_B}\n")
    assert (
        str(error) == "line 2: mixed formats: bare hash in a list of 'ALGORITHM HASH [label]' lines"
    )


def test_csv_header_among_algorithm_lines_is_mixed_formats() -> None:
    error = error_of(f"pdq {PDQ_A}\nalgorithm,hash\npdq,{PDQ_B}\n")
    assert (
        str(error)
        == "line 2: mixed formats: CSV header in a list of 'ALGORITHM HASH [label]' lines"
    )


def test_csv_row_among_algorithm_lines_is_mixed_formats() -> None:
    error = error_of(f"pdq {PDQ_A}\npdq,{PDQ_B}\n")
    assert (
        str(error) == "line 2: mixed formats: CSV row in a list of 'ALGORITHM HASH [label]' lines"
    )


# --------------------------------------------------------------------------- labels


def test_label_of_200_characters_is_accepted() -> None:
    label = "x" * 200
    assert parse(f"pdq {PDQ_A} {label}")[0].label == label


def test_label_longer_than_200_characters_is_rejected() -> None:
    error = error_of(f"pdq {PDQ_A}\npdq {PDQ_B} {'y' * 201}\n")
    assert str(error) == "line 2: label is 201 characters long; the limit is 200"


def test_label_with_control_character_is_rejected() -> None:
    # An ANSI escape in a label would be replayed to the operator's terminal.
    error = error_of(f"pdq {PDQ_A} evil\x1b[2Jlabel\n")
    assert str(error) == "line 1: label contains the control character U+001B"


def test_non_ascii_label_is_kept() -> None:
    assert parse(f"pdq {PDQ_A} fotó ñ 写真")[0].label == "fotó ñ 写真"


# --------------------------------------------------------------------------- CSV


def test_csv_with_label_column() -> None:
    text = f'algorithm,hash,label\npdq,{PDQ_A},"photo 1, at home"\nphash,{PHASH_A},\n'
    assert parse(text) == [
        ParsedHash("pdq", PDQ_A, "photo 1, at home", 2),
        ParsedHash("phash", PHASH_A, None, 3),
    ]


def test_csv_without_label_column() -> None:
    text = f"algorithm,hash\npdq,{PDQ_A}\nPHASH,{PHASH_A.upper()}\n"
    assert parse(text) == [ParsedHash("pdq", PDQ_A, None, 2), ParsedHash("phash", PHASH_A, None, 3)]


def test_csv_header_any_case_any_order_extra_columns_ignored() -> None:
    text = (
        'Label, "HASH",notes, Algorithm\n'
        f'"a ""quoted"" label, with comma",{PHASH_A},ignored text,phash\n'
        f"  , {PDQ_A} , , pdq \n"
    )
    assert parse(text) == [
        ParsedHash("phash", PHASH_A, 'a "quoted" label, with comma', 2),
        ParsedHash("pdq", PDQ_A, None, 3),
    ]


def test_csv_quoted_fields() -> None:
    text = f'"algorithm","hash","label"\n"pdq","{PDQ_A}","x"\n'
    assert parse(text) == [ParsedHash("pdq", PDQ_A, "x", 2)]


def test_csv_comments_and_blank_lines() -> None:
    text = f"# from the helpline\n\nalgorithm,hash\n# first batch\npdq,{PDQ_A}\n\nphash,{PHASH_A}\n"
    assert [(h.algorithm, h.line) for h in parse(text)] == [("pdq", 5), ("phash", 7)]


def test_csv_header_only_is_no_hashes() -> None:
    error = error_of("algorithm,hash,label\n\n")
    assert str(error) == "no hashes found"
    assert error.line is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("algorithm,label", "line 1: CSV header has no 'hash' column"),
        ("hash,label", "line 1: CSV header has no 'algorithm' column"),
        ("hash,quality", "line 1: CSV header has no 'algorithm' column"),
        ("algorithm,hash,Hash", "line 1: CSV header names the column 'hash' twice"),
    ],
)
def test_csv_bad_header(header: str, message: str) -> None:
    assert str(error_of(f"{header}\npdq,{PDQ_A}\n")) == message


def test_csv_unquoted_comma_in_label_is_an_error_not_a_truncated_label() -> None:
    text = f"algorithm,hash,label\npdq,{PDQ_A},ok\n\nphash,{PHASH_A},photo 2, kitchen\n"
    error = error_of(text)
    assert str(error) == (
        "line 4: expected 3 comma-separated fields as in the header, found 4"
        " (quote labels that contain commas)"
    )
    assert error.line == 4


def test_csv_second_header_is_mixed_formats() -> None:
    text = f"algorithm,hash\npdq,{PDQ_A}\nALGORITHM,HASH\nphash,{PHASH_A}\n"
    assert str(error_of(text)) == "line 3: mixed formats: a second CSV header row"


def test_csv_with_an_algorithm_line_is_an_error() -> None:
    text = f"algorithm,hash\npdq,{PDQ_A}\npdq {PDQ_B}\n"
    assert error_of(text).line == 3


def test_csv_unknown_algorithm_and_bad_hash() -> None:
    assert str(error_of(f"algorithm,hash\nsha1,{PHASH_A}\n")) == "line 2: unknown algorithm 'sha1'"
    assert str(error_of(f"algorithm,hash\nphash,{PHASH_A[:12]}\n")) == (
        "line 2: phash hash: expected 16 hex digits (64 bits), found 12"
    )
    assert str(error_of("algorithm,hash\nphash,\n")) == "line 2: missing phash hash"


def test_csv_malformed_quotes() -> None:
    error = error_of(f'algorithm,hash,label\npdq,{PDQ_A},"unterminated\n')
    assert error.line == 2
    assert str(error).startswith("line 2: malformed CSV: ")


def test_csv_rows_without_a_header() -> None:
    error = error_of(f"pdq,{PDQ_A}\nphash,{PHASH_A}\n")
    assert (
        str(error)
        == "line 1: comma-separated lines need a header row 'algorithm,hash[,label]' first"
    )


# --------------------------------------------------------------------------- bare PDQ


def test_bare_pdq_lines() -> None:
    text = f"{PDQ_A}\n{PDQ_B.upper()}\n"
    assert parse(text) == [ParsedHash("pdq", PDQ_A, None, 1), ParsedHash("pdq", PDQ_B, None, 2)]


def test_bare_pdq_with_quality_suffix() -> None:
    text = f"{PDQ_A},100\n{PDQ_B} 73\n{PDQ_A} , 0\n{PDQ_B}\t50\n{PDQ_A}\n"
    hashes = parse(text)
    assert [(h.algorithm, h.value, h.quality, h.line) for h in hashes] == [
        ("pdq", PDQ_A, 100, 1),
        ("pdq", PDQ_B, 73, 2),
        ("pdq", PDQ_A, 0, 3),
        ("pdq", PDQ_B, 50, 4),
        ("pdq", PDQ_A, None, 5),
    ]
    assert all(h.label is None for h in hashes)


@pytest.mark.parametrize("quality", ["101", "-1", "high", "7.5", "0x10"])
def test_bare_pdq_bad_quality(quality: str) -> None:
    error = error_of(f"{PDQ_A},90\n{PDQ_B},{quality}\n")
    assert str(error) == f"line 2: quality must be a whole number from 0 to 100, found {quality!r}"


def test_bare_pdq_with_quality_and_file_name_as_pdq_photo_hasher_prints_them() -> None:
    # facebook/ThreatExchange pdq/cpp pdq-photo-hasher: "hash,quality,filename" lines.
    assert parse(f"{PDQ_A},90,holiday 3.jpg\n") == [
        ParsedHash("pdq", PDQ_A, "holiday 3.jpg", 1, 90)
    ]


def test_bare_pdq_wrong_length() -> None:
    error = error_of(f"# StopNCII export\n{PDQ_A}\n{PDQ_B[:63]}\n")
    assert str(error) == "line 3: pdq hash: expected 64 hex digits (256 bits), found 63"


def test_bare_hash_of_other_length_is_read_as_pdq() -> None:
    # A pHash with no algorithm name cannot be told from a truncated PDQ hash.
    assert (
        str(error_of(f"{PHASH_A}\n"))
        == "line 1: pdq hash: expected 64 hex digits (256 bits), found 16"
    )


def test_bare_pdq_non_hex() -> None:
    error = error_of(f"{PDQ_A}\n{PDQ_B[:-1]}q\n")
    assert str(error) == "line 2: pdq hash: non-hex character 'q' at position 64"


def test_bare_pdq_0x_prefix() -> None:
    assert str(error_of(f"{PDQ_A}\n0x{PDQ_B}\n")) == (
        "line 2: pdq hash: a '0x' prefix is not accepted; give the hex digits only"
    )


def test_bare_pdq_needs_pdq_in_registry() -> None:
    with pytest.raises(HashListError) as info:
        parse_hash_list(f"{PDQ_A}\n", {"phash": 64})
    assert str(info.value) == (
        "line 1: a hash without an algorithm name is read as PDQ,"
        " but 'pdq' is not a known algorithm"
    )


def test_algorithm_line_among_bare_hashes_is_mixed_formats() -> None:
    error = error_of(f"{PDQ_A}\n\nphash {PHASH_A}\n")
    assert str(error) == "line 3: mixed formats: algorithm line in a list of bare PDQ hashes"


def test_csv_header_among_bare_hashes_is_mixed_formats() -> None:
    error = error_of(f"{PDQ_A}\nalgorithm,hash\n")
    assert str(error) == "line 2: mixed formats: CSV header in a list of bare PDQ hashes"


def test_csv_row_among_bare_hashes_is_mixed_formats() -> None:
    error = error_of(f"{PDQ_A}\npdq,{PDQ_B}\n")
    assert str(error) == "line 2: mixed formats: CSV row in a list of bare PDQ hashes"


# --------------------------------------------------------------------------- encoding, BOM, CRLF


def test_bom_and_crlf_in_text() -> None:
    text = f"\ufeff# comment\r\npdq {PDQ_A} label one\r\n\r\nphash {PHASH_A}\r\n"
    assert parse(text) == [
        ParsedHash("pdq", PDQ_A, "label one", 2),
        ParsedHash("phash", PHASH_A, None, 4),
    ]


def test_bom_and_crlf_in_bytes_for_each_line_format() -> None:
    csv_text = f'algorithm,hash,label\r\npdq,{PDQ_A},"a, b"\r\n'
    bare_text = f"{PDQ_A},88\r\n"
    assert parse(b"\xef\xbb\xbf" + csv_text.encode()) == [ParsedHash("pdq", PDQ_A, "a, b", 2)]
    assert parse(b"\xef\xbb\xbf" + bare_text.encode()) == [ParsedHash("pdq", PDQ_A, None, 1, 88)]


def test_bom_before_json() -> None:
    text = "\ufeff" + json.dumps([{"algorithm": "pdq", "hash": PDQ_A}])
    assert parse(text) == [ParsedHash("pdq", PDQ_A, None, 1)]


def test_utf8_bytes_are_decoded() -> None:
    assert parse(f"pdq {PDQ_A} fotó".encode())[0].label == "fotó"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text hash list (not valid UTF-8)"),
        (b"\xff\xd8\xff\xe0 jpeg", "not a text hash list (not valid UTF-8)"),
        (f"pdq {PDQ_A}\n\x00\x00".encode(), "not a text hash list (contains NUL bytes)"),
        (f"pdq {PDQ_A}\n\x00", "not a text hash list (contains NUL bytes)"),
        (f"pdq {PDQ_A}\n\udcff", "not a text hash list (not valid UTF-8)"),
        (
            f"pdq {PDQ_A}\n".encode("utf-16"),
            "not a text hash list: it looks like UTF-16; save it as UTF-8",
        ),
    ],
)
def test_binary_content_is_rejected(data: str | bytes, message: str) -> None:
    error = error_of(data)
    assert str(error) == message
    assert error.line is None


# --------------------------------------------------------------------------- whole-file errors


@pytest.mark.parametrize("text", ["", "\n\n  \n", "# only\n# comments\n", "\ufeff", b""])
def test_no_hashes_found(text: str | bytes) -> None:
    error = error_of(text)
    assert str(error) == "no hashes found"
    assert error.line is None


def test_absurdly_long_line() -> None:
    text = f"pdq {PDQ_A}\n# fine\n{'#' * 10_001}\npdq {PDQ_B}\n"
    error = error_of(text)
    assert str(error) == "line 3: line is 10001 characters long; the limit is 10000"
    assert error.line == 3


def test_line_of_exactly_10000_characters_is_allowed() -> None:
    assert len(parse(f"{'#' * 10_000}\npdq {PDQ_A}\n")) == 1


def test_crlf_does_not_count_towards_the_line_limit() -> None:
    assert len(parse(f"{'#' * 10_000}\r\npdq {PDQ_A}\r\n")) == 1


def test_long_line_is_caught_even_when_it_is_the_first() -> None:
    assert error_of("a" * 20_000).line == 1


def test_bad_registry_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="bit length must be a positive multiple of 4"):
        parse_hash_list(f"pdq {PDQ_A}", {"pdq": 255})


# --------------------------------------------------------------------------- JSON


def test_bare_json_list_with_and_without_labels() -> None:
    text = json.dumps(
        [
            {"algorithm": "PDQ", "hash": PDQ_A.upper(), "label": "  one  "},
            {"algorithm": "phash", "hash": PHASH_A},
            {"algorithm": "phash", "hash": PHASH_B, "label": None, "other": "ignored"},
            {"algorithm": "pdq", "hash": PDQ_B, "label": "", "quality": 64},
        ]
    )
    assert parse(text) == [
        ParsedHash("pdq", PDQ_A, "one", 1),
        ParsedHash("phash", PHASH_A, None, 2),
        ParsedHash("phash", PHASH_B, None, 3),
        ParsedHash("pdq", PDQ_B, None, 4, 64),
    ]


def test_json_object_without_format_and_version_is_accepted() -> None:
    text = json.dumps({"hashes": [{"algorithm": "phash", "hash": PHASH_A}]})
    assert parse(text) == [ParsedHash("phash", PHASH_A, None, 1)]


def test_pretty_printed_json_with_leading_whitespace() -> None:
    text = "\n\n   " + json.dumps({"hashes": [{"algorithm": "pdq", "hash": PDQ_A}]}, indent=4)
    assert parse(text) == [ParsedHash("pdq", PDQ_A, None, 1)]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"format": "stix", "hashes": []},
            "JSON is not an ncii-monitor-hashlist file (format 'stix')",
        ),
        (
            {"format": "ncii-monitor-hashlist", "version": 3, "hashes": []},
            "unsupported ncii-monitor-hashlist version '3'; this program reads versions 1, 2",
        ),
        (
            {"format": "ncii-monitor-hashlist", "version": "1", "hashes": []},
            "unsupported ncii-monitor-hashlist version '1'; this program reads versions 1, 2",
        ),
        ({"format": "ncii-monitor-hashlist", "version": 1}, "JSON object has no 'hashes' list"),
        ({"hashes": {"pdq": PDQ_A}}, "JSON object has no 'hashes' list"),
        ({"data": [1, 2]}, "JSON object has no 'hashes' list"),
        ({"hashes": []}, "no hashes found"),
        ([], "no hashes found"),
    ],
)
def test_other_json_is_rejected(document: object, message: str) -> None:
    error = error_of(json.dumps(document))
    assert str(error) == message
    assert error.line is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("pdq " + PDQ_B, "entry 2: expected an object with 'algorithm' and 'hash'"),
        ({"hash": PDQ_B}, "entry 2: 'algorithm' must be a string"),
        ({"algorithm": "pdq"}, "entry 2: 'hash' must be a string"),
        ({"algorithm": "pdq", "hash": 12345}, "entry 2: 'hash' must be a string"),
        ({"algorithm": "foo", "hash": PDQ_B}, "entry 2: unknown algorithm 'foo'"),
        (
            {"algorithm": "pdq", "hash": PDQ_B[:60]},
            "entry 2: pdq hash: expected 64 hex digits (256 bits), found 60",
        ),
        (
            {"algorithm": "pdq", "hash": "0x" + PDQ_B[:62]},
            "entry 2: pdq hash: a '0x' prefix is not accepted; give the hex digits only",
        ),
        (
            {"algorithm": "pdq", "hash": PDQ_B, "label": 7},
            "entry 2: 'label' must be a string or null",
        ),
        (
            {"algorithm": "pdq", "hash": PDQ_B, "label": "z" * 201},
            "entry 2: label is 201 characters long; the limit is 200",
        ),
        (
            {"algorithm": "pdq", "hash": PDQ_B, "quality": 101},
            "entry 2: 'quality' must be a whole number from 0 to 100 or null",
        ),
        (
            {"algorithm": "pdq", "hash": PDQ_B, "quality": True},
            "entry 2: 'quality' must be a whole number from 0 to 100 or null",
        ),
    ],
)
def test_bad_json_entry_names_its_index(entry: object, message: str) -> None:
    text = json.dumps(
        {"hashes": [{"algorithm": "pdq", "hash": PDQ_A}, entry, {"algorithm": "nope", "hash": ""}]}
    )
    error = error_of(text)
    assert str(error) == message
    assert error.line == 2


def test_invalid_json_names_the_text_line() -> None:
    text = '{\n  "hashes": [\n    {"algorithm": "pdq", "hash": "' + PDQ_A + '"},\n  ]\n}\n'
    error = error_of(text)
    assert error.line == 4
    assert str(error).startswith("line 4: invalid JSON: ")


def test_deeply_nested_json_is_rejected_cleanly() -> None:
    error = error_of("[" * 100_000 + "]" * 100_000)
    assert str(error) == "invalid JSON: nested too deeply"


# --------------------------------------------------------------------------- export_json


def test_export_json_document_shape() -> None:
    text = export_json([("pdq", PDQ_A, "photo 1"), ("phash", PHASH_A, None)], now=FIXED_NOW)
    document = json.loads(text)
    assert document == {
        "format": "ncii-monitor-hashlist",
        "version": 2,
        "exported_at": "2024-05-01T12:30:45Z",
        "hashes": [
            {"algorithm": "pdq", "hash": PDQ_A, "label": "photo 1"},
            {"algorithm": "phash", "hash": PHASH_A, "label": None},
        ],
    }
    assert text.endswith("\n")


def test_export_json_writes_no_undocumented_keys() -> None:
    document = json.loads(
        export_json([("pdq", PDQ_A, "x"), ("phash", PHASH_A, None)], now=FIXED_NOW)
    )
    assert list(document) == ["format", "version", "exported_at", "hashes"]
    for entry in document["hashes"]:
        assert list(entry) == ["algorithm", "hash", "label"]


def test_export_json_has_no_case_reference_parameter() -> None:
    # Identities are kept apart from hashes: there is nowhere to put a case reference.
    with pytest.raises(TypeError):
        export_json([("pdq", PDQ_A, None)], case_ref="CASE-42", now=FIXED_NOW)  # type: ignore[call-arg]


def test_export_json_converts_time_to_utc() -> None:
    paris = timezone(timedelta(hours=2))
    document = json.loads(export_json([], now=datetime(2024, 5, 1, 14, 0, 0, tzinfo=paris)))
    assert document["exported_at"] == "2024-05-01T12:00:00Z"
    assert document["hashes"] == []


def test_export_json_default_time_is_now_in_utc() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = json.loads(export_json([]))["exported_at"]
    after = datetime.now(UTC)
    assert stamp.endswith("Z")
    assert before <= datetime.fromisoformat(stamp) <= after


def test_export_json_rejects_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        export_json([], now=datetime(2024, 5, 1, 12, 0, 0))


def test_export_json_normalises_case() -> None:
    document = json.loads(export_json([("PDQ", PDQ_A.upper(), "  Label  ")], now=FIXED_NOW))
    assert document["hashes"] == [{"algorithm": "pdq", "hash": PDQ_A, "label": "Label"}]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (("pdq", "0x" + PDQ_A[:62], None), "entry 2: hash is not hex"),
        (("pdq", "", None), "entry 2: hash is not hex"),
        (("", PDQ_A, None), "entry 2: bad algorithm name"),
        (("p dq", PDQ_A, None), "entry 2: bad algorithm name"),
        (("pdq", PDQ_A, "l" * 201), "entry 2: label is 201 characters long"),
    ],
)
def test_export_json_refuses_what_it_could_not_read_back(
    entry: tuple[str, str, str | None], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        export_json([("phash", PHASH_A, None), entry], now=FIXED_NOW)


def test_round_trip_export_then_parse() -> None:
    entries = [
        ("pdq", PDQ_A, 'photo 1, "quoted" & commas'),
        ("phash", PHASH_A, None),
        ("pdq", PDQ_B, "fotó ñ 写真"),
        ("phash", PHASH_B, "x" * 200),
        ("pdq", PDQ_A, 'photo 1, "quoted" & commas'),  # duplicate survives
    ]
    parsed = parse(export_json(entries, now=FIXED_NOW))
    assert [(h.algorithm, h.value, h.label) for h in parsed] == entries
    assert [h.line for h in parsed] == [1, 2, 3, 4, 5]
    assert all(h.quality is None for h in parsed)


def test_round_trip_through_bytes() -> None:
    text = export_json([("pdq", PDQ_A, "fotó")], now=FIXED_NOW)
    assert parse(text.encode("utf-8")) == [ParsedHash("pdq", PDQ_A, "fotó", 1)]


def test_large_export_has_no_overlong_line_and_parses() -> None:
    entries = [("phash", f"{i:016x}", f"item {i}") for i in range(2_000)]
    text = export_json(entries, now=FIXED_NOW)
    assert max(len(line) for line in text.splitlines()) < 200
    parsed = parse(text)
    assert len(parsed) == 2_000
    assert parsed[1999] == ParsedHash("phash", f"{1999:016x}", "item 1999", 2000)
