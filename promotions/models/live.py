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

    class Meta:
        ordering = ["application", "stage"]
        constraints = [models.UniqueConstraint(fields=["application", "stage"], name="live_state_unique_cell")]

    def __str__(self) -> str:
        return f"{self.application}/{self.stage}: {self.health} {self.sync}"
