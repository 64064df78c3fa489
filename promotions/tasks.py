"""Celery tasks: thin wrappers that call one service."""

from __future__ import annotations

from django.conf import settings

from gitops_portal.celery import app
from promotions.config import catalog_get
from promotions.services import matrix_refresh


@app.task(acks_late=True, ignore_result=True)
def matrix_refresh_task() -> None:
    """Periodic safety net: re-read every repository (cheap when nothing changed)."""
    matrix_refresh(catalog=catalog_get(settings.GITOPS_PORTAL_CONFIG))
