"""Notifications sent to subscribers, with their delivery state."""

from __future__ import annotations

from django.db import models

from promotions.models.promotion import Promotion


class NotificationDelivery(models.Model):
    """One notification to one subscriber, retried until delivered or given up on."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    subscription = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    event = models.CharField(max_length=50)
    promotion = models.ForeignKey(Promotion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.subscription} {self.event} ({self.status})"
