"""The weekly trend as a bar chart laid out on the server: numbers for an inline SVG the template
draws (no script, no charting library, nothing for the CSP to refuse). Each week's bar is its
deployments, the failed ones drawn over its foot; the page gives the same numbers in a table."""

from __future__ import annotations

import math
from dataclasses import dataclass

from promotions.insights.delivery import Week

# Across: percentages of the page's width (the chart stretches, its text keeps its size, on a phone as
# on a wide screen). Up: pixels.
HEIGHT, TOP, BOTTOM = 220, 16, 22  # room above the highest line for its number, below the bars for dates
LABELS = 8  # at most this many dates under the bars: more would overlap on a phone


@dataclass(frozen=True)
class Bar:
    x: str  # a percentage of the width
    width: str
    y: float
    height: float
    failed_y: float
    failed_height: float
    label: str  # the week's date under the bar, or '' where it would crowd its neighbours
    text: str  # what the bar says, in words (its tooltip)


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    description: str


def weekly_chart(weeks: list[Week]) -> Chart:
    """Bars of deployments per week on a scale of round numbers, and the whole in one sentence."""
    top = _scale_top(max((w.figures.deployments for w in weeks), default=0))
    base, plot = HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP
    slot = 100 / max(len(weeks), 1)
    every = math.ceil(len(weeks) / LABELS) or 1
    bars = []
    for i, week in enumerate(weeks):
        deployed, failed = week.figures.deployments, week.figures.failures
        height, failed_height = plot * deployed / top, plot * failed / top
        bars.append(Bar(
            x=f"{i * slot + slot * 0.15:.2f}%", width=f"{slot * 0.7:.2f}%", y=round(base - height, 1),
            height=round(height, 1), failed_y=round(base - failed_height, 1), failed_height=round(failed_height, 1),
            label=f"{week.start:%b} {week.start.day}" if i % every == 0 else "",
            text=f"week of {week.start:%Y-%m-%d}: {_deployments(deployed)}, {failed} failed",
        ))  # fmt: skip
    step = top // 4 if top >= 4 else 1
    ticks = [Tick(round(base - plot * value / top, 1), str(value)) for value in range(0, top + 1, step)]
    return Chart(HEIGHT, bars, ticks, _description(weeks))


def _scale_top(peak: int) -> int:
    """The smallest round number at or above the peak that splits into four whole steps (4, 8, 12, 16,
    20, 40, 60, 80, 100, 120, 160, 200, …)."""
    for magnitude in (10**k for k in range(12)):
        for factor in (4, 6, 8, 10, 12, 16, 20):
            if peak <= factor * magnitude and factor * magnitude % 4 == 0:
                return factor * magnitude
    return peak


def _deployments(count: int) -> str:
    return f"{count} deployment{'' if count == 1 else 's'}"


def _description(weeks: list[Week]) -> str:
    if not weeks or not any(w.figures.deployments for w in weeks):
        return "No deployments in the period."
    busiest = max(weeks, key=lambda w: w.figures.deployments)
    total = sum(w.figures.deployments for w in weeks)
    failed = sum(w.figures.failures for w in weeks)
    return (
        f"{_deployments(total)} over {len(weeks)} weeks, {failed} failed; the busiest was the week of "
        f"{busiest.start:%Y-%m-%d} with {_deployments(busiest.figures.deployments)}."
    )
