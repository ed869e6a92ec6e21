"""Geometry of the namespace page's bar chart, computed here and drawn by a template as inline
SVG (no JavaScript, no external assets; the template escapes every label).

One group of three bars per run: records migrated, updated and failed. The scale is linear;
a non-zero count always gets a visible sliver, so a run that updated 3 records after one that
migrated 100,000 still shows something (its tooltip and the table below give the numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.utils import timezone

WIDTH = 720
HEIGHT = 240
MARGIN_LEFT = 56
MARGIN_RIGHT = 12
MARGIN_TOP = 12
MARGIN_BOTTOM = 36
MIN_VISIBLE = 2.0  # px: the least height of a non-zero bar

# (label, CSS class): the classes are styled in syncapp/admin.css, light and dark.
SERIES = (("Migrated", "chart-migrated"), ("Updated", "chart-updated"), ("Failed", "chart-failed"))


class ChartRun(Protocol):
    pk: int
    created_at: datetime
    successfully_migrated: int
    successfully_updated: int
    failed_migration: int
    failed_update: int

    def get_status_display(self) -> str: ...


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    value: int


@dataclass(frozen=True)
class Group:
    run_id: int
    url: str
    title: str
    x: float
    width: float
    label: str | None  # shown under the axis for some groups only, so labels never overlap
    label_x: float
    bars: list[Bar] = field(default_factory=list)


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    groups: list[Group]
    ticks: list[Tick]
    series: tuple[tuple[str, str], ...] = SERIES

    @property
    def label_y(self) -> int:
        return self.plot_bottom + 16

    @property
    def plot_height(self) -> int:
        return self.plot_bottom - self.plot_top

    @property
    def tick_label_x(self) -> int:
        return self.plot_left - 6


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `value` (and at least 1)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def tick_values(top: int) -> list[int]:
    """Whole-number gridlines from 0 to `top` (a `nice_ceiling`): quarters, halves or units."""
    for parts in (4, 2):
        if top >= parts and top % parts == 0:
            return [top * i // parts for i in range(parts + 1)]
    return list(range(top + 1))  # top is 1 or 5


def run_chart(runs: Sequence[ChartRun], url_for: Callable[[int], str]) -> Chart:
    """Chart geometry for `runs` (oldest first). `url_for(run_id)` links each group."""
    plot_left, plot_right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    plot_top, plot_bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    plot_height = plot_bottom - plot_top
    values = [
        (r.successfully_migrated, r.successfully_updated, r.failed_migration + r.failed_update)
        for r in runs
    ]
    top = nice_ceiling(max((v for triple in values for v in triple), default=0))
    ticks = [
        Tick(y=round(plot_bottom - plot_height * value / top, 2), label=f"{value:,}")
        for value in tick_values(top)
    ]
    groups: list[Group] = []
    if runs:
        slot = (plot_right - plot_left) / max(len(runs), 10)  # few runs: keep bars slim
        bar_width = max(slot * 0.8 / len(SERIES), 1.0)
        every = math.ceil(len(runs) / 10)
        for index, (run, triple) in enumerate(zip(runs, values, strict=True)):
            x = plot_left + index * slot + slot * 0.1
            bars = []
            for offset, (value, (_, css_class)) in enumerate(zip(triple, SERIES, strict=True)):
                height = plot_height * value / top
                if value and height < MIN_VISIBLE:
                    height = MIN_VISIBLE
                bars.append(
                    Bar(
                        x=round(x + offset * bar_width, 2),
                        y=round(plot_bottom - height, 2),
                        width=round(bar_width, 2),
                        height=round(height, 2),
                        css_class=css_class,
                        value=value,
                    )
                )
            when = timezone.localtime(run.created_at).strftime("%Y-%m-%d %H:%M")
            title = (
                f"Run #{run.pk}, {when}, {run.get_status_display().lower()}: "
                f"{triple[0]:,} migrated, {triple[1]:,} updated, {triple[2]:,} failed"
            )
            show_label = (len(runs) - 1 - index) % every == 0  # always label the newest
            groups.append(
                Group(
                    run_id=run.pk,
                    url=url_for(run.pk),
                    title=title,
                    x=round(x, 2),
                    width=round(slot * 0.8, 2),
                    label=f"#{run.pk}" if show_label else None,
                    label_x=round(x + slot * 0.4, 2),
                    bars=bars,
                )
            )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=plot_left,
        plot_right=plot_right,
        plot_top=plot_top,
        plot_bottom=plot_bottom,
        groups=groups,
        ticks=ticks,
    )
