"""The four DORA measures, computed from landings and arrivals (`records`): pure, no database.

What each counts:

- **Deployment**: one application of a promotion that landed in Git in a stage (committed, or its
  pull request merged: `landed_at`), whatever became of it after; a bundle of three applications is
  three deployments, and a rollback is a deployment too. A promotion that never landed is none:
  `noop` (the stage had the version already), `cancelled`, `superseded`, `rejected`, or `failed`
  before landing (a Git or hosting error). A period counts the deployments that landed in it.
- **Deployment frequency**: the period's deployments ÷ its length in days (per day; × 7 per week).
- **Lead time for changes**: for each version of an application *done* in a stage for the first time
  within the period, from when that version entered the pipeline to that first time. Entered: the
  request (`created_at`) of the earliest promotion that brought the version into any stage and
  landed; for a release that went the usual way, CI's release into the first stage of the graph.
  Done: `verified` (running healthy in the stage's cluster for its soak time: `finished_at`); in a
  stage without a cluster, where the portal follows nothing after Git, landed. A version done there
  again (after a rollback) is not counted twice, and a rollback to an earlier version adds none. A
  version written into the first stage by hand enters with the first promotion the portal made of it.
- **Change failure rate**: the period's deployments that failed after landing (`failed` with a
  `landed_at`: degraded, not running by the stage's deploy deadline, or the operator could not apply
  it) or were rolled back (the next landing of that application into that stage is a rollback), ÷
  the period's deployments. None, said "no deployments", when there were none. What happened to a
  deployment after the period counts: the rate is about the changes made in it.
- **Time to restore**: for each failed change of the period, from when it failed (`finished_at`) or
  its rollback was asked for (`created_at`, not before the change landed), whichever came first, to
  the first later landing of that application into that stage that is done (often the rollback
  itself); none when that landing was done first. Not restored yet: counted apart, not in the times.

The headline, per-application and weekly figures are for the last stages of the stage graph (where
releases end: production, or prod-eu and prod-us after a fan-out), or the one stage asked for; each
stage's own row counts its deployments and the lead time up to it.

Median: the middle value (the mean of the two middle ones for an even count). p90: nearest rank,
the smallest value with at least 90 % of the values at or below it. Times are taken to the second.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from promotions.insights.records import Arrival, Landing


@dataclass(frozen=True)
class Durations:
    """How many durations, and their median and p90 in seconds (None for none)."""

    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Durations:
        ordered = sorted(values)
        if not ordered:
            return cls(0, None, None)
        return cls(len(ordered), statistics.median(ordered), ordered[math.ceil(0.9 * len(ordered)) - 1])

    @property
    def median_words(self) -> str:
        return duration_words(self.median)

    @property
    def p90_words(self) -> str:
        return duration_words(self.p90)


class Change(NamedTuple):
    """A deployment and its outcome: when it failed (or its rollback was asked for; None if neither)
    and when its stage ran a good version of the application again (None: not yet)."""

    landing: Landing
    failure: float | None = None
    restored: float | None = None

    @property
    def failed(self) -> bool:
        return self.failure is not None

    @property
    def restore_seconds(self) -> float | None:
        if self.failure is None or self.restored is None:
            return None
        return max(0.0, self.restored - self.failure)


@dataclass(frozen=True)
class Figures:
    """The four measures over `days` days."""

    days: float
    deployments: int
    failures: int
    lead_time: Durations
    restore: Durations
    unrestored: int

    @property
    def per_day(self) -> float:
        return self.deployments / self.days if self.days else 0.0

    @property
    def per_week(self) -> float:
        return self.per_day * 7

    @property
    def failure_rate(self) -> float | None:
        """Failed ÷ deployed; None when nothing was deployed (there is no rate of nothing)."""
        return self.failures / self.deployments if self.deployments else None


def changes_judge(landings: list[Landing]) -> list[Change]:
    """Every landing with its outcome, judged from the landings after it into the same cell (the
    landings come oldest first)."""
    cells: dict[tuple[str, str], list[Landing]] = defaultdict(list)
    for landing in landings:
        cells[landing.cell].append(landing)
    changes: list[Change] = []
    for cell in cells.values():
        restored: float | None = None  # the earliest `done` among the landings after the current one
        judged = []
        for i in range(len(cell) - 1, -1, -1):
            landing, following = cell[i], cell[i + 1] if i + 1 < len(cell) else None
            judged.append(_change(landing, following, restored))
            if landing.done is not None:
                restored = landing.done if restored is None else min(restored, landing.done)
        changes += reversed(judged)
    return changes


def _change(landing: Landing, following: Landing | None, restored: float | None) -> Change:
    moments = []
    if landing.failed:
        moments.append(landing.finished if landing.finished is not None else landing.landed)
    if following is not None and following.rollback:
        moments.append(max(landing.landed, following.requested))
    if not moments:
        return Change(landing)
    return Change(landing, failure=min(moments), restored=restored)


def figures_of(*, changes: Iterable[Change], arrivals: Iterable[Arrival], days: float) -> Figures:
    """The measures for these changes (deployments) and arrivals (versions done for the first time)."""
    changes = list(changes)
    failed = [c for c in changes if c.failed]
    restores = [s for c in failed if (s := c.restore_seconds) is not None]
    leads = [a.done - a.entered for a in arrivals if a.entered is not None]
    return Figures(
        days=days, deployments=len(changes), failures=len(failed), lead_time=Durations.of(leads),
        restore=Durations.of(restores), unrestored=len(failed) - len(restores),
    )  # fmt: skip


def duration_words(seconds: float | None) -> str:
    """A duration as a person says it: "40 s", "12 min", "3.5 h", "2.1 days"; "—" for none."""
    if seconds is None:
        return "—"
    for unit, size, limit in (("s", 1, 90), ("min", 60, 90 * 60), ("h", 3600, 48 * 3600)):
        if seconds < limit:
            return f"{_number(seconds / size)} {unit}"
    return f"{_number(seconds / 86400)} days"


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
