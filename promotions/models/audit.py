"""The append-only, hash-chained audit history."""

from __future__ import annotations

from django.db import models

from promotions.models.promotion import Promotion


class AuditQuerySet(models.QuerySet["AuditEvent"]):
    """History is append-only: bulk updates and deletes are refused too."""

    def update(self, **kwargs: object) -> int:
        raise PermissionError("audit events are append-only: they cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only: they cannot be deleted")


class AuditEvent(models.Model):
    """One thing that happened, by whom, from where: append-only and hash-chained (each
    event's hash covers its content and the previous event's hash), so any later change
    to a row breaks the chain where it happened. A promotion's events are its timeline."""

    class Source(models.TextChoices):
        UI = "ui"
        API = "api"
        CHATOPS = "chatops"
        WEBHOOK = "webhook"
        CI = "ci"
        CLI = "cli"
        SYSTEM = "system"

    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150)
    source = models.CharField(max_length=20, choices=Source.choices)
    action = models.CharField(max_length=100, db_index=True, help_text="dotted, e.g. promotion.pr_open")
    message = models.TextField(blank=True)
    promotion = models.ForeignKey(Promotion, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    applications = models.CharField(max_length=2000, blank=True, help_text=",a,b, (for filtering)")
    stage = models.CharField(max_length=100, blank=True, db_index=True)
    targets = models.JSONField(default=dict, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    mac = models.CharField(max_length=64, blank=True, help_text="HMAC of the hash with AUDIT_HMAC_KEY, when set")

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise PermissionError("audit events are append-only: they cannot be updated")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only: they cannot be deleted")

    @property
    def state(self) -> str:
        """For a promotion's state change, the state it moved to."""
        return self.action.removeprefix("promotion.") if self.action.startswith("promotion.") else ""

    @property
    def label(self) -> str:
        return self.state or self.action
