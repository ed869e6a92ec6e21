from __future__ import annotations

import random

import pytest

from syncengine import EngineError, Side, batched, merge_join


def pages(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)] or [[]]


def test_it_classifies_the_plans_example() -> None:
    result = list(merge_join([["A", "B", "C", "D", "E"]], [["A", "B"], ["C", "F"]]))
    assert result == [
        ("A", Side.MATCHING),
        ("B", Side.MATCHING),
        ("C", Side.MATCHING),
        ("D", Side.MISSING),
        ("E", Side.MISSING),
        ("F", Side.ORPHAN),
    ]


def test_it_uses_bytewise_order() -> None:
    # "B10" < "B9" bytewise; uppercase (0x41-0x5A) sorts before lowercase (0x61-0x7A).
    source = ["B10", "B9", "Zed", "apple"]
    target = ["B10", "Zed", "b"]
    assert sorted(source, key=str.encode) == source
    result = list(merge_join([source], [target]))
    assert result == [
        ("B10", Side.MATCHING),
        ("B9", Side.MISSING),
        ("Zed", Side.MATCHING),
        ("apple", Side.MISSING),
        ("b", Side.ORPHAN),
    ]


def test_it_matches_set_arithmetic_on_random_listings() -> None:
    rng = random.Random(7)
    universe = [f"id-{rng.randrange(10**6)}-{c}" for c in "aBz" for _ in range(300)]
    source_ids = sorted({i for i in universe if rng.random() < 0.6}, key=str.encode)
    target_ids = sorted({i for i in universe if rng.random() < 0.6}, key=str.encode)
    result = list(merge_join(pages(source_ids, 7), pages(target_ids, 13)))
    got = {side: {i for i, s in result if s is side} for side in Side}
    assert got[Side.MISSING] == set(source_ids) - set(target_ids)
    assert got[Side.MATCHING] == set(source_ids) & set(target_ids)
    assert got[Side.ORPHAN] == set(target_ids) - set(source_ids)
    assert [i for i, _ in result] == sorted(set(source_ids) | set(target_ids), key=str.encode)


def test_it_handles_empty_listings() -> None:
    assert list(merge_join([[]], [[]])) == []
    assert list(merge_join([], [["x"]])) == [("x", Side.ORPHAN)]
    assert list(merge_join([["x"]], [])) == [("x", Side.MISSING)]


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ([["b", "a"]], [["a"]]),
        ([["a"], ["a"]], [[]]),  # a repeated ID across pages
        ([["a", "c"]], [["b"], ["a"]]),
        ([["B9", "B10"]], [[]]),  # str-looking "natural" order is not Pinecone's order
    ],
)
def test_it_refuses_an_out_of_order_listing(
    source: list[list[str]], target: list[list[str]]
) -> None:
    with pytest.raises(EngineError, match="not in bytewise ascending order"):
        list(merge_join(source, target))


def test_it_streams_without_reading_everything_first() -> None:
    consumed: list[int] = []

    def lazy_pages() -> object:
        for n in range(1000):
            consumed.append(n)
            yield [f"{n:06d}"]

    stream = merge_join(lazy_pages(), iter([]))  # type: ignore[arg-type]
    assert next(stream) == ("000000", Side.MISSING)
    assert len(consumed) <= 2


def test_batched_splits_into_lists() -> None:
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []
    with pytest.raises(ValueError):
        list(batched([1], 0))
