"""Celery tasks: thin wrappers that call one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from promotions.config import catalog_get
from promotions.services import matrix_refresh


@shared_task(acks_late=True, ignore_result=True)
def matrix_refresh_task() -> None:
    """Periodic safety net: re-read every repository (cheap when nothing changed)."""
    matrix_refresh(catalog=catalog_get(settings.GITOPS_PORTAL_CONFIG))
