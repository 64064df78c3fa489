"""Freeze windows: times when promotions into a stage are refused."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from promotions.catalogue.schema import DAYS, FreezeWindow, PromotionPolicy


def active_freeze(policy: PromotionPolicy, at: datetime) -> FreezeWindow | None:
    """The first of the stage's freeze windows that covers `at`, if any."""
    return next((window for window in policy.freeze if _covers(window, at)), None)


def _covers(window: FreezeWindow, at: datetime) -> bool:
    if window.start is not None and window.end is not None:
        return _aware(window.start) <= at < _aware(window.end)
    local = at.astimezone(ZoneInfo(window.timezone))
    return DAYS[local.weekday()] in (window.days or []) and window.start_time <= local.time() <= window.end_time


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))


def describe(window: FreezeWindow) -> str:
    """`Black Friday (until 2026-11-30 23:59 UTC)` / `weekends (every sat, sun)`."""
    if window.end is not None:
        return f"{window.reason} (until {_aware(window.end):%Y-%m-%d %H:%M %Z})"
    hours = "" if (window.start_time.hour, window.end_time.hour) == (0, 23) else (
        f" {window.start_time:%H:%M}–{window.end_time:%H:%M}"
    )  # fmt: skip
    return f"{window.reason} (every {', '.join(window.days or [])}{hours} {window.timezone})"
