"""Events received from Git hosting."""

from __future__ import annotations

from django.db import models


class WebhookDelivery(models.Model):
    """One event received from Git hosting, kept to ignore redeliveries and to retry processing."""

    delivery_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=50)
    repository = models.CharField(max_length=100, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"
