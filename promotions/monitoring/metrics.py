"""The `/metrics` exposition: the portal's state as Prometheus series, built at each scrape
from `monitoring.reads` (a fixed number of queries). Series that name one promotion or cell
exist only while there is something to say (waiting, drifting, failed, down), so the number
of series follows the trouble, not the size of the catalogue."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from promotions.models import Promotion
from promotions.monitoring import reads
from promotions.monitoring.reads import seconds_since

State = Promotion.State
PREFIX = "gitops_portal_"
MESSAGE_LIMIT = 200
PASSING_CHECKS = ("success", "neutral", "skipped")


def metrics_exposition(*, accept: str) -> tuple[bytes, str]:
    """The exposition in the format the scraper accepts (Prometheus text or OpenMetrics), and its content type."""
    encoder, content_type = choose_encoder(accept)
    return encoder(PortalCollector(base_url=settings.GITOPS_PORTAL_URL, now=timezone.now())), content_type


class PortalCollector:
    """Reads the database when collected; keeps nothing between scrapes."""

    def __init__(self, *, base_url: str, now: datetime) -> None:
        self.base_url = base_url.rstrip("/")
        self.now = now

    def collect(self) -> Iterable[Metric]:
        yield self._promotions()
        yield self._phases()
        yield self._waiting()
        yield self._cells()
        yield from self._disagreeing()
        yield self._failed()
        yield from self._sources()

    def _url(self, promotion_id: int) -> str:
        return f"{self.base_url}/promotions/{promotion_id}/"

    def _promotions(self) -> Metric:
        family = GaugeMetricFamily(f"{PREFIX}promotions", "Promotions per target stage, kind and state.",
                                   labels=["stage", "kind", "state"])  # fmt: skip
        for row in reads.promotion_counts():
            family.add_metric([row["to_stage"], row["kind"], row["state"]], row["n"])
        return family

    def _phases(self) -> Metric:
        family = HistogramMetricFamily(
            f"{PREFIX}promotion_phase_duration_seconds",
            "How long promotions took per phase (requested_to_landed, landed_to_applied, applied_to_deployed, "
            "landed_to_deployed, deployed_to_verified), counted once the phase is over.",
            labels=["stage", "phase"],
        )
        for histogram in reads.phase_histograms():
            buckets = [(floatToGoString(bound), count) for bound, count in histogram.buckets] + [
                ("+Inf", histogram.count)
            ]
            family.add_metric([histogram.stage, histogram.phase], buckets, histogram.sum_seconds)
        return family

    def _waiting(self) -> Metric:
        family = GaugeMetricFamily(
            f"{PREFIX}promotion_waiting_seconds",
            "Seconds an open or rolling-out promotion has been in its state, per application, with the gate "
            "it waits at (git host, checks, approval, operator, rollout).",
            labels=["promotion", "application", "stage", "repository", "gate", "url"],
        )
        for row in reads.waiting_items():
            gate, url = promotion_gate(row), self._url(row["promotion_id"])
            labels = [str(row["promotion_id"]), row["application"], row["stage"], row["repository"], gate, url]
            family.add_metric(labels, seconds_since(row["updated_at"], self.now))
        return family

    def _cells(self) -> Metric:
        family = GaugeMetricFamily(
            f"{PREFIX}cells",
            "Cells with live state per stage, by whether the declared, applied and running versions agree "
            "(agree, disagree, unknown: Git declares no version there).",
            labels=["stage", "agreement"],
        )
        for row in reads.cell_counts():
            family.add_metric([row["stage"], row["agreement"]], row["n"])
        return family

    def _disagreeing(self) -> Iterable[Metric]:
        drift = GaugeMetricFamily(
            f"{PREFIX}cell_drift_seconds",
            "Seconds since a cell's declared, applied and running versions began to disagree (0 until the live "
            "read has noticed); one series per disagreeing cell.",
            labels=["application", "stage", "repository", "declared", "running", "verdict"],
        )
        operator = GaugeMetricFamily(
            f"{PREFIX}cell_operator_info",
            "What a stage's operator says about a disagreeing cell it has not applied (1 per such cell).",
            labels=["application", "stage", "repository", "operator", "object", "verdict", "message"],
        )
        for row in reads.cells_disagreeing():
            said: dict[str, Any] = row["operator"] if isinstance(row["operator"], dict) else {}
            verdict = str(said.get("verdict") or "unknown") if said else "none"
            running = one_line(", ".join(str(v) for v in row["versions"] or []), limit=100)
            cell = [row["application"], row["stage"], row["repository"] or ""]
            drift.add_metric(
                [*cell, row["declared"] or "", running, verdict], seconds_since(row["drift_since"], self.now)
            )
            if said and verdict != "applied":
                text = said.get("message") or said.get("summary") or said.get("reason") or ""
                operator.add_metric([*cell, str(said.get("operator") or ""), _object(said), verdict, one_line(text)], 1)
        yield drift
        yield operator

    def _failed(self) -> Metric:
        family = GaugeMetricFamily(
            f"{PREFIX}promotion_failed_timestamp_seconds",
            "When the latest failed promotion into a cell failed, with its cause (operator, rollout, deadline, "
            "git, checks, …) and message; gone once a later promotion into the cell succeeds.",
            labels=["promotion", "application", "stage", "repository", "cause", "url", "message"],
        )
        for row in reads.cells_failed():
            labels = [str(row["promotion_id"]), row["application"], row["stage"], row["repository"],
                      row["cause"] or "unknown", self._url(row["promotion_id"]), one_line(row["error"])]  # fmt: skip
            family.add_metric(labels, row["finished_at"].timestamp() if row["finished_at"] else 0.0)
        return family

    def _sources(self) -> Iterable[Metric]:
        labels = ["kind", "name"]
        up = GaugeMetricFamily(
            f"{PREFIX}source_up",
            "Whether the portal could read the source at its last attempt (git: a repository's host; cluster, "
            "operator: a stage's).",
            labels=labels,
        )
        since = GaugeMetricFamily(f"{PREFIX}source_since_timestamp_seconds",
                                  "When the source last went up or down.", labels=labels)  # fmt: skip
        checked = GaugeMetricFamily(f"{PREFIX}source_checked_timestamp_seconds",
                                    "When the source was last tried.", labels=labels)  # fmt: skip
        reason = GaugeMetricFamily(f"{PREFIX}source_info", "Why a source is down (1 per source that is down).",
                                   labels=[*labels, "reason"])  # fmt: skip
        for row in reads.sources():
            key = [row["kind"], row["name"]]
            up.add_metric(key, 1 if row["up"] else 0)
            since.add_metric(key, row["since"].timestamp())
            checked.add_metric(key, row["checked_at"].timestamp())
            if not row["up"]:
                reason.add_metric([*key, one_line(row["reason"])], 1)
        yield from (up, since, checked, reason)


def promotion_gate(row: dict[str, Any]) -> str:
    """What a waiting promotion waits for, from its state: the Git host (to be written, or merged
    after approval), its pull request's checks, an approval, the stage's operator, or the rollout."""
    state = row["state"]
    if state in (State.QUEUED, State.PREPARING, State.APPROVED):
        return "git host"
    if state == State.PR_OPEN:
        checks = row["checks"] if isinstance(row["checks"], dict) else {}
        pending = any(not isinstance(c, dict) or c.get("state") not in PASSING_CHECKS for c in checks.values())
        return "checks" if pending else "approval"
    if row["applied_at"] is None and row["has_operator"] and state in (State.COMMITTED, State.MERGED, State.SYNCING):
        return "operator"
    return "rollout"


def one_line(text: str, *, limit: int = MESSAGE_LIMIT) -> str:
    """`text` as one line (runs of blanks and control characters become one space), cut to `limit`."""
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text or "")
    flat = " ".join(cleaned.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _object(said: dict[str, Any]) -> str:
    """The operator's object as kind/namespace/name (what to look at with kubectl)."""
    return "/".join(str(said[key]) for key in ("kind", "namespace", "name") if said.get(key))
