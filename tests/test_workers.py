"""Promotions through real Celery worker processes and a real Redis broker: nothing is
lost or done twice when workers die, Redis goes away, or several workers race; and beat runs once."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.urls import reverse

from gitops_portal.celery import app as celery_app
from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import NotificationDelivery, Promotion
from promotions.tracking.sweeper import promotions_sweep
from promotions.workflow.request import promotion_request
from sandbox.processes import RedisServer, Worker, wait_for
from tests.builders import PIPELINE, kustomization
from tests.test_notifications import receiver  # noqa: F401 - fixture

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]
State = Promotion.State


@pytest.fixture
def redis_server(tmp_path):
    if not RedisServer.available():
        if os.environ.get("GITOPS_PORTAL_REQUIRE_SERVICES"):
            pytest.fail("redis-server is required here but not installed")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server):
    """Point this process's Celery client at the private Redis (and back afterwards)."""
    saved = celery_app.conf.broker_url, celery_app.conf.broker_transport_options
    celery_app.conf.broker_url = redis_server.url
    celery_app.conf.broker_transport_options = {"visibility_timeout": 60, "socket_connect_timeout": 1}
    _reset_connections()
    yield redis_server
    celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved
    _reset_connections()


def _reset_connections() -> None:
    celery_app.close()
    celery_app.amqp._producer_pool = None


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def workers(broker, tmp_path, settings):
    """Start workers on demand; all are stopped at the end."""
    started: list[Worker] = []
    env = {
        "DATABASE_URL": database_url(),
        "REDIS_URL": broker.url,
        "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "worker-data"),
        "SECRET_KEY": "worker-tests",
        "GITOPS_PORTAL_STUCK_SECONDS": "2",
        # A dead worker's Redis lock lease (the task time limit) runs out within the test.
        "GITOPS_PORTAL_TASK_TIME_LIMIT": "8",
        "GITOPS_PORTAL_BROKER_VISIBILITY_TIMEOUT": "60",
    }
    settings.GITOPS_PORTAL_STUCK_SECONDS = 2

    def start(concurrency: int = 1) -> Worker:
        env["GITOPS_PORTAL_CONFIG"] = str(settings.GITOPS_PORTAL_CONFIG)  # as the test has set it by now
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log", concurrency=concurrency).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def settled(promotion: Promotion, states=(State.COMMITTED, State.PR_OPEN, State.FAILED, State.NOOP), timeout=45):
    def done() -> bool:
        promotion.refresh_from_db()
        return promotion.state in states

    wait_for(done, timeout, f"promotion #{promotion.pk} to settle (now {promotion.state})", interval=0.1)
    return promotion


def commits_with(repo, promotion_id: int) -> int:
    body = repo._git("log", "--all", "--format=%B").decode().splitlines()
    return body.count(f"Promotion-Id: {promotion_id}")


def test_a_requested_promotion_is_carried_out_by_a_worker(pipeline, repo, workers, alice):
    workers()
    promotion = promotion_request(catalog=catalog_load(pipeline), applications=["web"], from_stage="dev",
                                  to_stage="staging", requested_by=alice)  # fmt: skip
    assert settled(promotion).state == State.COMMITTED
    assert promotion.commit == repo.head()
    assert [e.actor for e in promotion.events.all()] == ["alice", "worker", "worker"]


def test_a_worker_killed_in_the_middle_of_a_push_leaves_exactly_one_commit(pipeline, repo, workers, tmp_path):
    marker = tmp_path / "pushed"
    hook = repo.path / "hooks" / "post-receive"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 60\n")  # the refs are updated; the pusher waits
    hook.chmod(0o755)
    first = workers()
    promotion = promotion_request(
        catalog=catalog_load(pipeline), applications=["web"], from_stage="dev", to_stage="staging"
    )
    wait_for(marker.exists, 30, "the push to reach the remote")
    first.kill()
    hook.unlink()
    promotion.refresh_from_db()
    assert promotion.state == State.PREPARING  # the worker died before it could say so
    workers()
    time.sleep(2.2)  # older than GITOPS_PORTAL_STUCK_SECONDS
    assert promotion.pk in promotions_sweep().dispatched
    assert settled(promotion).state == State.COMMITTED
    assert promotion.commit == repo.head()
    assert commits_with(repo, promotion.pk) == 1


def test_a_promotion_requested_while_redis_is_down_completes_when_it_is_back(
    pipeline, repo, workers, broker, client, alice
):
    client.force_login(alice)
    broker.stop()
    response = client.post(reverse("promote"), {"app": "web", "from": "dev", "to": "staging"}, follow=True)
    promotion = Promotion.objects.get()
    html = response.content.decode()
    assert promotion.state == State.QUEUED
    assert "Waiting for a worker to pick it up." in html
    assert "the task queue is unreachable, it will be sent when it is back" in html
    broker.start()
    _reset_connections()
    workers()
    assert promotion.pk in promotions_sweep().dispatched
    assert settled(promotion).state == State.COMMITTED
    assert commits_with(repo, promotion.pk) == 1


def test_two_workers_promoting_20_applications_into_one_repository_lose_nothing(repo, write_catalog, workers):
    files = {}
    for n in range(20):
        files[f"dev/app-{n:02}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/app-{n:02}", "1.1.0")
        files[f"staging/app-{n:02}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/app-{n:02}", "1.0.0")
    repo.commit(files, "Bootstrap")
    path = write_catalog(PIPELINE, url=repo.url)
    catalog = catalog_load(path)
    matrix_refresh(catalog=catalog)
    workers(concurrency=2)
    workers(concurrency=2)
    promotions = [
        promotion_request(catalog=catalog, applications=[f"app-{n:02}"], from_stage="dev", to_stage="staging")
        for n in range(20)
    ]
    for promotion in promotions:
        assert settled(promotion, timeout=90).state == State.COMMITTED, promotion.error
    assert len(repo._git("log", "--format=%H", "main").decode().split()) == 21
    for promotion in promotions:
        assert commits_with(repo, promotion.pk) == 1
    for n in range(20):
        assert "newTag: 1.1.0" in repo.read(f"staging/app-{n:02}/kustomization.yaml")


def test_a_worker_retries_a_failing_notification_receiver_with_backoff(repo, write_catalog, workers, receiver,  # noqa: F811
                                                                        alice, monkeypatch):  # fmt: skip
    monkeypatch.setenv("PORTAL_HOOK_SECRET", "s3cret")
    catalog = write_catalog(PIPELINE + f"""\
    notifications:
      - {{name: sink, kind: webhook, url: "{receiver.url}", secret_env: PORTAL_HOOK_SECRET, events: [requested]}}
    """, url=repo.url)  # fmt: skip
    files = {
        f"{stage}/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.0.0") for stage in ("dev", "staging")
    }
    repo.commit(files, "bootstrap")
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "dev")
    matrix_refresh(catalog=catalog_load(catalog))
    receiver.answers = [500, 502]
    workers()
    started = time.monotonic()
    promotion_request(catalog=catalog_load(catalog), applications=["web"], from_stage="dev", to_stage="staging",
                      requested_by=alice)  # fmt: skip

    def delivered() -> bool:
        return NotificationDelivery.objects.filter(status=NotificationDelivery.Status.DELIVERED).exists()

    wait_for(delivered, 45, "the notification to be delivered", interval=0.2)
    delivery = NotificationDelivery.objects.get()
    assert (delivery.attempts, delivery.response_code, delivery.event) == (3, 200, "requested")
    assert len(receiver.received) == 3
    assert time.monotonic() - started >= 2 + 4  # the backoff between the tries


def test_the_refresh_button_hands_git_to_a_worker_and_the_page_follows(pipeline, repo, workers, client, alice):
    import re

    from promotions.models import StageVersion

    workers()
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    client.force_login(alice)
    html = client.post(reverse("refresh"), headers={"HX-Request": "true"}).content.decode()
    since = re.search(r"\?refreshing=(\d+)", html)[1]
    assert "Reading Git…" in html

    def shown() -> bool:
        page = client.get(f"/?refreshing={since}", headers={"HX-Request": "true"}).content.decode()
        return "Reading Git" not in page

    wait_for(shown, 30, "the page to stop waiting for the worker", interval=0.2)
    assert StageVersion.objects.get(application="web", stage="staging").version == "1.1.0"


def beat(env: dict[str, str], log) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    """`celery beat` as the Procfile and the Kubernetes Deployment start it, in its own process group."""
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "gitops_portal", "beat", "--loglevel", "INFO"],
                            env=os.environ | env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def sweeps_sent(redis_url: str) -> int:
    """How many promotions-sweep tasks wait in the broker's queue (no worker takes them here)."""
    import json

    import redis

    queued = redis.Redis.from_url(redis_url).lrange("celery", 0, -1)
    return sum(json.loads(m)["headers"]["task"] == "promotions.tasks.promotions_sweep_task" for m in queued)


def test_a_second_beat_waits_for_the_lock_and_takes_over_when_the_first_dies(redis_server, tmp_path):
    env = {"REDIS_URL": redis_server.url, "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "beat-data"), "SECRET_KEY": "beat",
           "GITOPS_PORTAL_SWEEP_SECONDS": "1", "GITOPS_PORTAL_BEAT_LOCK_SECONDS": "10"}  # fmt: skip
    logs = [open(tmp_path / f"beat-{n}.log", "wb") for n in (1, 2)]  # noqa: SIM115 - closed below
    first, second = beat(env, logs[0]), beat(env, logs[1])
    try:
        wait_for(lambda: sweeps_sent(redis_server.url) >= 2, 30, "the first sweeps")
        start, began = sweeps_sent(redis_server.url), time.monotonic()
        time.sleep(6)
        sent = sweeps_sent(redis_server.url) - start
        elapsed = time.monotonic() - began
        assert sent <= elapsed + 1.5, f"{sent} sweeps in {elapsed:.1f}s: both beats are sending"
        assert sent >= 2, f"only {sent} sweeps in {elapsed:.1f}s"  # it does send (a loaded machine may lag)
        holder = first if b"Sending due task" in (tmp_path / "beat-1.log").read_bytes() else second
        os.killpg(holder.pid, signal.SIGKILL)  # dies without releasing the lock
        holder.wait(10)
        before = sweeps_sent(redis_server.url)
        wait_for(lambda: sweeps_sent(redis_server.url) >= before + 3, 30, "the second beat to take over")
    finally:
        for proc in (first, second):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for log in logs:
            log.close()
