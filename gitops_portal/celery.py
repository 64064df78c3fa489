"""The Celery application; configuration comes from Django settings (CELERY_*)."""

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gitops_portal.settings")

app = Celery("gitops_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
_bound: dict[str, Any] = {}  # task id -> the log context entered for it


@signals.task_prerun.connect
def _bind_task(task_id: str, task: Any, **_: Any) -> None:
    """Every line a task logs names the task and its id (the worker logs as the web does)."""
    from promotions.logcontext import log_context

    context = log_context(task=task.name, task_id=task_id)
    context.__enter__()
    _bound[task_id] = context


@signals.task_postrun.connect
def _unbind_task(task_id: str, **_: Any) -> None:
    context = _bound.pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)
