"""What runs in the clusters, as the last refresh saw it."""

from __future__ import annotations

from django.db import models


class LiveState(models.Model):
    """What runs for one application in one stage's cluster, as the last refresh saw it."""

    class Health(models.TextChoices):
        HEALTHY = "Healthy"
        PROGRESSING = "Progressing"
        DEGRADED = "Degraded"
        MISSING = "Missing"
        UNKNOWN = "Unknown"

    class Sync(models.TextChoices):
        SYNCED = "Synced"
        OUT_OF_SYNC = "OutOfSync"
        UNKNOWN = "Unknown"

    application = models.CharField(max_length=100)
    stage = models.CharField(max_length=100)
    namespace = models.CharField(max_length=255, blank=True)
    workload = models.CharField(max_length=500, blank=True, help_text="kind/name of what was found")
    version = models.CharField(max_length=255, null=True, blank=True, help_text="null while several run")
    versions = models.JSONField(default=list, help_text="running versions, newest first")
    health = models.CharField(max_length=20, choices=Health.choices)
    sync = models.CharField(max_length=20, choices=Sync.choices)
    ready = models.PositiveIntegerField(null=True, blank=True)
    desired = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    observed_at = models.DateTimeField()
    operator = models.JSONField(
        default=dict, blank=True,
        help_text="what the stage's Flux or Argo CD says about the object applying this cell ({} without one)",
    )  # fmt: skip
    changed_at = models.DateTimeField(
        null=True, blank=True, db_index=True,
        help_text="when the values (not the time of reading) last changed: what pages ask to know if they are current",
    )  # fmt: skip
    drift_since = models.DateTimeField(
        null=True, blank=True, help_text="since when declared, applied and running disagree; null while they agree"
    )

    class Meta:
        ordering = ["application", "stage"]
        constraints = [models.UniqueConstraint(fields=["application", "stage"], name="live_state_unique_cell")]

    def __str__(self) -> str:
        return f"{self.application}/{self.stage}: {self.health} {self.sync}"


class SourceStatus(models.Model):
    """Whether the portal could read one of its sources (a repository's Git host, a stage's cluster
    API, a stage's operator) at its last attempt, and since when that has been so: one series per
    source for monitoring, so an outage is one alert, not one per application."""

    class Kind(models.TextChoices):
        GIT = "git"
        CLUSTER = "cluster"
        OPERATOR = "operator"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100, help_text="the repository or stage")
    up = models.BooleanField()
    reason = models.TextField(blank=True)
    checked_at = models.DateTimeField()
    since = models.DateTimeField(help_text="when `up` last changed")

    class Meta:
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="source_status_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {'up' if self.up else 'down'}"
