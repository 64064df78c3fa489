"""Catalogues inferred from a repository on an admin's request ("Add a repository")."""

from __future__ import annotations

from django.db import models


class CatalogueDraft(models.Model):
    """One "Add a repository" request: a worker clones `url` at `branch`, infers its catalogue
    (`text`) and reads it (`preview`: stages, upstream, rows of cells, what was not inferred).
    The portal never installs it: the admin commits the file and points the portal at it."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    requested_by = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    url = models.CharField(max_length=2000)
    branch = models.CharField(max_length=255, default="main")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    text = models.TextField(blank=True)
    preview = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.url} ({self.branch}): {self.state}"

    @property
    def pending(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)
