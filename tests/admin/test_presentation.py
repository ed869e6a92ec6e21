"""Pure helpers behind the pages: the word diff, the chart geometry, labels and durations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from syncapp.admin.common import format_seconds
from syncapp.labels import STAT_LABELS, stat_names_for
from syncapp.lib.charts import MIN_VISIBLE, nice_ceiling, run_chart, tick_values
from syncapp.lib.worddiff import Segment, word_diff


def test_word_diff_marks_replaced_inserted_and_deleted_words() -> None:
    assert word_diff("the slow brown fox", "the quick brown fox jumps") == [
        Segment("equal", "the "),
        Segment("delete", "slow"),
        Segment("insert", "quick"),
        Segment("equal", " brown fox"),
        Segment("insert", " jumps"),
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("", "all new"),
        ("all gone", ""),
        ("same same", "same same"),
        ("a  b\n\nc", "a b\nc d"),
        ("<b>x</b> & y", "<i>x</i> & y"),
    ],
)
def test_word_diff_segments_rebuild_both_texts(old: str, new: str) -> None:
    segments = word_diff(old, new)
    assert "".join(s.text for s in segments if s.op != "insert") == old
    assert "".join(s.text for s in segments if s.op != "delete") == new


def test_word_diff_is_not_confused_by_frequent_words() -> None:
    # With difflib's autojunk, tokens over 1% of a long text (spaces, "the") are ignored and
    # a one-word change turns into a rewrite of everything.
    old = " ".join(["the word"] * 150)
    new = old.replace("word", "term", 1)
    changed = [s for s in word_diff(old, new) if s.op != "equal"]
    assert changed == [Segment("delete", "word"), Segment("insert", "term")]


@dataclass
class FakeRun:
    pk: int
    successfully_migrated: int
    successfully_updated: int = 0
    failed_migration: int = 0
    failed_update: int = 0
    created_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    def get_status_display(self) -> str:
        return "Succeeded"


def test_chart_scales_bars_and_keeps_small_counts_visible() -> None:
    runs = [FakeRun(1, 100_000), FakeRun(2, 0, successfully_updated=3, failed_update=1)]
    chart = run_chart(runs, lambda pk: f"/run/{pk}/")
    first, second = chart.groups
    assert first.url == "/run/1/" and first.label == "#1"
    assert first.bars[0].height == chart.plot_height  # 100,000 of a 100,000 scale
    assert second.bars[0].height == 0  # nothing migrated: no bar
    assert second.bars[1].height == MIN_VISIBLE and second.bars[2].height == MIN_VISIBLE
    assert "3 updated, 1 failed" in second.title
    assert [t.label for t in chart.ticks] == ["0", "25,000", "50,000", "75,000", "100,000"]


def test_chart_labels_at_most_about_ten_runs_and_always_the_newest() -> None:
    chart = run_chart([FakeRun(i, i) for i in range(1, 31)], str)
    labelled = [g.label for g in chart.groups if g.label]
    assert len(labelled) == 10 and labelled[-1] == "#30"


def test_chart_of_no_runs_is_empty() -> None:
    assert run_chart([], str).groups == []


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (45, 50), (1001, 2000)]
)
def test_nice_ceiling(value: int, ceiling: int) -> None:
    assert nice_ceiling(value) == ceiling


def test_tick_values_are_whole_numbers() -> None:
    assert tick_values(1) == [0, 1]
    assert tick_values(5) == [0, 1, 2, 3, 4, 5]
    assert tick_values(10) == [0, 5, 10]
    assert tick_values(20) == [0, 5, 10, 15, 20]


def test_stat_rows_fit_the_kind_of_run() -> None:
    mirror = stat_names_for(kind="mirror", dry_run=False)
    preview = stat_names_for(kind="analyze", dry_run=False)
    assert stat_names_for(kind="mirror", dry_run=True) == preview
    assert "successfully_migrated" in mirror and "would_migrate" not in mirror
    assert "would_migrate" in preview and "successfully_migrated" not in preview
    assert mirror == [name for name in STAT_LABELS if name in mirror]  # table order kept
    assert list(STAT_LABELS)[:6] == [
        "total_source_vectors",
        "total_target_vectors",
        "missing_in_target",
        "matching_ids",
        "metadata_matches",
        "metadata_differs",
    ]


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(None, "—"), (0, "0 s"), (59.4, "59 s"), (61, "1 min 01 s"), (3725, "1 h 02 min")],
)
def test_format_seconds(seconds: float | None, label: str) -> None:
    assert format_seconds(seconds) == label
