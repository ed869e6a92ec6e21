from __future__ import annotations

import math

import pytest

from syncengine import (
    canonical_metadata_hash,
    compare_metadata,
    display_value,
    extract_text,
    text_hash,
)
from syncengine.compare import diff_values

IGNORE = {"clearance_level"}


def test_it_ignores_clearance_level_on_both_sides() -> None:
    source = {"text": "a", "year": 2019}
    target = {"text": "a", "year": 2019, "clearance_level": "secret"}
    assert compare_metadata(source, target, IGNORE) == []
    assert compare_metadata({**source, "clearance_level": "x"}, target, IGNORE) == []


def test_it_treats_an_int_and_the_same_float_as_equal() -> None:
    assert compare_metadata({"year": 2019}, {"year": 2019.0}, IGNORE) == []
    assert compare_metadata({"n": 0}, {"n": -0.0}, IGNORE) == []


def test_it_compares_numbers_as_pinecone_stores_them() -> None:
    # 2**53 + 1 cannot be a float64: stored and read back it is 2**53, which is not a change.
    assert compare_metadata({"n": 2**53 + 1}, {"n": float(2**53)}, IGNORE) == []
    assert compare_metadata({"n": 1.5}, {"n": 1.25}, IGNORE) == ["n"]
    assert compare_metadata({"n": math.nan}, {"n": math.nan}, IGNORE) == []


def test_it_does_not_treat_booleans_as_numbers() -> None:
    assert compare_metadata({"flag": True}, {"flag": 1}, IGNORE) == ["flag"]
    assert compare_metadata({"flag": False}, {"flag": 0.0}, IGNORE) == ["flag"]
    assert compare_metadata({"flag": True}, {"flag": True}, IGNORE) == []


def test_it_compares_strings_exactly() -> None:
    assert compare_metadata({"s": "a"}, {"s": "a "}, IGNORE) == ["s"]
    assert compare_metadata({"s": "1"}, {"s": 1}, IGNORE) == ["s"]


def test_it_compares_lists_elementwise_in_order() -> None:
    assert compare_metadata({"tags": ["a", "b"]}, {"tags": ["a", "b"]}, IGNORE) == []
    assert compare_metadata({"tags": ["a", "b"]}, {"tags": ["b", "a"]}, IGNORE) == ["tags"]
    assert compare_metadata({"tags": ["a"]}, {"tags": ["a", "a"]}, IGNORE) == ["tags"]
    assert compare_metadata({"nums": [1, 2]}, {"nums": [1.0, 2.0]}, IGNORE) == []
    assert compare_metadata({"mixed": [True]}, {"mixed": [1]}, IGNORE) == ["mixed"]
    assert compare_metadata({"tags": ["a"]}, {"tags": "a"}, IGNORE) == ["tags"]


def test_it_reports_keys_present_on_one_side_only_sorted() -> None:
    source = {"text": "t", "b": 1, "a": 2}
    target = {"text": "t", "c": 3, "a": 2.5}
    assert compare_metadata(source, target, IGNORE) == ["a", "b", "c"]


def test_hash_agrees_with_comparison() -> None:
    a = {"year": 2019, "tags": ["x"], "flag": True, "clearance_level": "secret"}
    b = {"tags": ["x"], "flag": True, "year": 2019.0}
    assert canonical_metadata_hash(a, IGNORE) == canonical_metadata_hash(b, IGNORE)
    assert canonical_metadata_hash({"flag": True}, IGNORE) != canonical_metadata_hash(
        {"flag": 1}, IGNORE
    )
    assert canonical_metadata_hash({"t": ["a", "b"]}, IGNORE) != canonical_metadata_hash(
        {"t": ["b", "a"]}, IGNORE
    )
    assert len(canonical_metadata_hash({}, IGNORE)) == 64


def test_text_hash_is_exact() -> None:
    assert text_hash("abc") == text_hash("abc")
    assert text_hash("abc") != text_hash("abc ")


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"text": "hello"}, "hello"),
        ({"text": "  padded  "}, "  padded  "),
        ({}, None),
        ({"text": ""}, None),
        ({"text": " \n\t "}, None),
        ({"text": 42}, None),
        ({"text": ["a"]}, None),
        ({"text": None}, None),
    ],
)
def test_it_extracts_text_only_when_there_is_some(
    metadata: dict[str, object], expected: str | None
) -> None:
    assert extract_text(metadata, "text") == expected


def test_display_values_are_truncated_with_the_original_length_kept() -> None:
    assert display_value("short") == {"value": "short", "length": 5, "truncated": False}
    long = display_value("x" * 1200, 500)
    assert long == {"value": "x" * 500, "length": 1200, "truncated": True}
    assert display_value(2019.0) == {"value": 2019.0, "length": 6, "truncated": False}
    big_list = display_value(["word"] * 200, 50)
    assert big_list["truncated"] and isinstance(big_list["value"], str)
    assert len(big_list["value"]) == 50 and big_list["length"] > 50


def test_diff_values_marks_absent_sides() -> None:
    values = diff_values({"a": 1, "b": "x"}, {"a": 2, "c": True}, ["a", "b", "c"])
    assert values["a"][0] == {"value": 1, "length": 1, "truncated": False}
    assert values["b"][1] is None
    assert values["c"][0] is None
