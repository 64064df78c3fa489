"""What the portal stores of its Git reads: one row per repository and per matrix cell."""

from __future__ import annotations

from django.db import models


class RepositoryState(models.Model):
    """The last Git read of one repository: which commit the matrix shows, and any problem."""

    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=1000)
    branch = models.CharField(max_length=255)
    commit = models.CharField(max_length=40, blank=True)
    fingerprint = models.CharField(max_length=32, blank=True, help_text="catalogue version the cells were read with")
    read_at = models.DateTimeField(null=True, blank=True, help_text="when `commit` was read")
    checked_at = models.DateTimeField(null=True, blank=True, help_text="last fetch attempt")
    error = models.TextField(blank=True, help_text="why the last fetch or read failed; empty when fine")
    problems = models.JSONField(
        null=True, blank=True, help_text="what the catalogue gets wrong about this repository; null: not checked yet"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}@{self.commit[:8] or '?'}"


class StageVersion(models.Model):
    """One matrix cell: the version an application declares in one stage folder."""

    repository = models.CharField(max_length=100)
    application = models.CharField(max_length=100)
    stage = models.CharField(max_length=100)
    version = models.CharField(max_length=255, null=True, blank=True)
    path = models.CharField(max_length=1000, null=True, blank=True, help_text="null: not in this stage")
    line = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    commit = models.CharField(max_length=40, blank=True, help_text="the commit that last changed the version")
    author = models.CharField(max_length=255, blank=True)
    author_email = models.CharField(max_length=255, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["application", "stage"]
        constraints = [models.UniqueConstraint(fields=["application", "stage"], name="stage_version_unique_cell")]
        indexes = [models.Index(fields=["repository"])]

    def __str__(self) -> str:
        return f"{self.application}/{self.stage}={self.version or '-'}"
