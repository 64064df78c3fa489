"""Logs as JSON lines (GITOPS_PORTAL_LOG_FORMAT=json): each line says which request, promotion,
application, stage and task it belongs to where that is known, in the web and in the worker; a
user's text stays inside its JSON string."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from promotions.catalogue.loader import catalog_load
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger writing through the settings' JSON formatter and context filter into a buffer."""
    stream = io.StringIO()
    formatters, filters = django_settings.LOGGING["formatters"], django_settings.LOGGING["filters"]
    logging.config.dictConfig({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": formatters["json"]}, "filters": {"context": filters["context"]},
        "handlers": {"buffer": {"class": "logging.StreamHandler", "stream": stream, "formatter": "json",
                                "filters": ["context"]}},
        "root": {"handlers": ["buffer"], "level": "INFO"},
    })  # fmt: skip
    yield stream
    logging.config.dictConfig(django_settings.LOGGING)


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_and_a_promotion_name_themselves_on_every_line(pipeline, json_lines, client, alice):
    client.force_login(alice)
    client.get("/no-such-page/", headers={"X-Request-ID": "req-7f3a"})
    [missing] = [line for line in lines(json_lines) if line["logger"] == "django.request"]
    assert (missing["level"], missing["request_id"]) == ("WARNING", "req-7f3a")
    assert missing["message"] == "Not Found: /no-such-page/"
    promotion = promotion_request(catalog=catalog_load(pipeline), applications=["web"], from_stage="dev",
                                  to_stage="staging", reason="fix\n{\"level\": \"CRITICAL\"}")  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    done = [line for line in lines(json_lines) if line["message"] == f"promotion {promotion.pk}: committed"]
    assert [(d["promotion_id"], d["application"], d["stage"]) for d in done] == [(str(promotion.pk), "web", "staging")]
    assert all(line["level"] in ("INFO", "WARNING") for line in lines(json_lines))  # nothing forged a CRITICAL line


def test_the_worker_logs_json_lines_with_the_task_when_asked(tmp_path):
    """A Celery worker process started as in production writes its own lines as JSON (not Celery's format)."""
    env = {"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_DATA_DIR": str(tmp_path), "SECRET_KEY": "logs",
           "GITOPS_PORTAL_LOG_FORMAT": "json", "GITOPS_PORTAL_ENV_FILE": ""}  # fmt: skip
    code = ("import django, logging; django.setup(); from gitops_portal.celery import app; "
            "from promotions.logcontext import log_context; "
            "import promotions.tasks; t = app.tasks['promotions.tasks.matrix_refresh_task']; "
            "from celery import signals; signals.task_prerun.send(sender=t, task_id='t-1', task=t); "
            "logging.getLogger('promotions').warning('inside the task'); "
            "signals.task_postrun.send(sender=t, task_id='t-1', task=t); "
            "logging.getLogger('promotions').warning('after it')")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env | {"DJANGO_SETTINGS_MODULE":
                          "gitops_portal.settings"}, capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    inside, after = (json.loads(line) for line in done.stderr.splitlines() if line.startswith("{"))
    assert (inside["message"], inside["task"], inside["task_id"]) == ("inside the task",
                                                                      "promotions.tasks.matrix_refresh_task", "t-1")  # fmt: skip
    assert "task" not in after


def test_a_log_format_it_does_not_know_stops_start_up_naming_it(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_DATA_DIR": str(tmp_path), "SECRET_KEY": "logs",
           "GITOPS_PORTAL_LOG_FORMAT": "xml", "GITOPS_PORTAL_ENV_FILE": ""}  # fmt: skip
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "GITOPS_PORTAL_LOG_FORMAT: expected plain or json, got 'xml'" in done.stderr
