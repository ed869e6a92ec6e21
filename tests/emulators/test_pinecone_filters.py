"""The metadata filter compiler on its own (no server): semantics and error messages."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.pinecone.filters import FilterError, compile_filter


def matches(flt: dict[str, Any], metadata: dict[str, Any] | None) -> bool:
    predicate = compile_filter(flt)
    return True if predicate is None else predicate(metadata)


def test_no_filter_and_the_empty_filter_match_everything() -> None:
    assert compile_filter(None) is None
    assert compile_filter({}) is None


def test_numbers_compare_as_floats_and_booleans_do_not() -> None:
    assert matches({"n": 3}, {"n": 3.0})
    assert matches({"n": {"$in": [1, 2, 3]}}, {"n": 2.0})
    assert not matches({"n": 1}, {"n": True})
    assert not matches({"b": True}, {"b": 1.0})
    assert matches({"b": {"$in": [True]}}, {"b": True})


def test_records_without_metadata() -> None:
    assert not matches({"a": "x"}, None)
    assert matches({"a": {"$ne": "x"}}, None)
    assert matches({"a": {"$exists": False}}, None)
    assert not matches({"a": {"$gte": 0}}, None)


def test_a_filter_must_be_an_object() -> None:
    with pytest.raises(FilterError, match="must be a JSON object"):
        compile_filter(["genre"])


def test_in_accepts_at_most_10000_values() -> None:
    compile_filter({"a": {"$in": list(range(10_000))}})
    with pytest.raises(FilterError, match="at most 10000 values"):
        compile_filter({"a": {"$in": list(range(10_001))}})


def test_errors_name_the_path() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter({"$or": [{"a": 1}, {"b": {"$lt": "x"}}]})
    assert str(caught.value).startswith("filter.$or[1].b.$lt: $lt requires a number")
