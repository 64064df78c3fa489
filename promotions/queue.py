"""Sending work to the Celery workers by task name: nothing here imports `promotions.tasks`, so
the services that queue work never depend on the tasks that call them."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}


def task_send(name: str, *args: object, retry: bool = True) -> str:
    """Queue the task `promotions.tasks.<name>` (a few quick retries unless `retry` is off);
    '' when queued, else why not (the broker is unreachable: the periodic tasks and the sweeper
    catch up once it is back)."""
    from gitops_portal.celery import app

    try:
        app.send_task(f"promotions.tasks.{name}", args=list(args), retry=retry, retry_policy=RETRY)
    except Exception as exc:  # kombu raises many kinds (OperationalError, socket errors, ...)
        log.warning("task %s not queued: %s", name, exc)
        return f"the task queue is unreachable ({exc})"
    return ""
