"""Scale-out, proven: two web processes (gunicorn), three Celery workers and one beat on Postgres
and Redis, each with a data dir of its own as separate hosts would have. 200 promotions of different
applications and 20 of the same one, requested through the API alternately on both web processes:
none lost, none done twice, the newest of the 20 the only one left open, every audit chain intact."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.db import connection

from promotions.accounts.tokens import apitoken_create
from promotions.audit.chain import audit_verify
from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import AuditEvent, Promotion
from sandbox.processes import Worker, free_port, wait_for
from tests.builders import BOB, at, kustomization
from tests.test_workers import broker, database_url, redis_server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]
State = Promotion.State
ROOT = Path(__file__).resolve().parent.parent
APPS = [f"svc-{n:03}" for n in range(200)]
CATALOGUE = """\
    repositories:
      - {name: platform, url: "{url}", branch: main}
    stages:
      - {name: dev, promotion: {mode: commit}}
      - {name: staging, promotion: {mode: commit}}
      - {name: production, promotion: {mode: pull_request}}
    applications:
      defaults:
        path: "{stage}/{app}/kustomization.yaml"
        version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}
      discover: "{stage}/{app}/kustomization.yaml"
"""


@pytest.fixture
def postgres() -> None:
    if connection.vendor != "postgresql":
        if os.environ.get("GITOPS_PORTAL_REQUIRE_SERVICES"):
            pytest.fail("this test needs Postgres: set DATABASE_URL")
        pytest.skip("needs Postgres (set DATABASE_URL)")


def gunicorn(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    handle = open(log, "ab")  # noqa: SIM115 - owned by the child process
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "gitops_portal.wsgi", "--bind", f"127.0.0.1:{port}",
                             "--workers", "2", "--log-level", "warning"], cwd=ROOT, env=os.environ | env,
                            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url) or proc.poll() is not None, 60, "gunicorn")
    assert proc.poll() is None, log.read_text()[-2000:]
    return proc, url


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def host_env(tmp_path: Path, name: str, redis_url: str, config: Path) -> dict[str, str]:
    """One host's settings: the shared database, broker and catalogue; a data dir of its own."""
    return {"DATABASE_URL": database_url(), "REDIS_URL": redis_url, "GITOPS_PORTAL_CONFIG": str(config),
            "GITOPS_PORTAL_DATA_DIR": str(tmp_path / name), "SECRET_KEY": "scale-out", "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "false", "GITOPS_PORTAL_ENV_FILE": "",
            "GITOPS_PORTAL_STUCK_SECONDS": "20", "GITOPS_PORTAL_SWEEP_SECONDS": "5"}  # fmt: skip


def test_two_web_and_three_worker_hosts_lose_nothing_and_do_nothing_twice(postgres, repo, write_catalog, broker,  # noqa: F811
                                                                           tmp_path, alice):  # fmt: skip
    files = {}
    for app in [*APPS, "web"]:
        files[f"dev/{app}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", "1.1.0")
        files[f"staging/{app}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", "1.0.0")
    files["production/web/kustomization.yaml"] = kustomization("ghcr.io/acme/web", "0.9.0")
    repo.commit(files, "Bootstrap", author=BOB, date=at(0))
    config = write_catalog(CATALOGUE, url=repo.url)
    matrix_refresh(catalog=catalog_load(config))
    _, token = apitoken_create(user=alice, name="scale-out")
    started: list[subprocess.Popen[bytes]] = []
    workers = []
    try:
        webs = [gunicorn(host_env(tmp_path, f"web-{n}", broker.url, config), tmp_path / f"web-{n}.log") for n in (1, 2)]
        started += [proc for proc, _url in webs]
        for n in range(3):
            env = host_env(tmp_path, f"worker-{n}", broker.url, config)
            workers.append(Worker(env, tmp_path / f"worker-{n}.log", name=f"host{n}").start())
        beat_log = open(tmp_path / "beat.log", "ab")  # noqa: SIM115 - owned by the child process
        started.append(subprocess.Popen([sys.executable, "-m", "celery", "-A", "gitops_portal", "beat"], cwd=ROOT,
                                        env=os.environ | host_env(tmp_path, "beat", broker.url, config),
                                        stdout=beat_log, stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
        urls = itertools.cycle([url for _proc, url in webs])
        requested = _request_all(urls, token)
        ids = [promotion_id for promotion_id, _app in requested]
        assert len(set(ids)) == 220

        def settled() -> bool:
            waiting = (State.QUEUED, State.PREPARING)
            return not Promotion.objects.filter(pk__in=ids, state__in=waiting).exists()

        wait_for(settled, 240, "every promotion to settle", interval=0.5)
        _assert_each_once(repo, requested)
    finally:
        for worker in workers:
            worker.stop()
        for proc in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            proc.wait(20)


def _request_all(urls, token: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """200 different applications dev → staging, concurrently, then 20 promotions of web into production
    one after another, each on the next web process."""

    def promote(app: str, url: str, to: str) -> tuple[int, str]:
        body = {"applications": [app], "from_stage": "dev" if to == "staging" else "staging", "to_stage": to}
        response = requests.post(f"{url}/api/v1/promotions", json=body, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert response.status_code == 202, response.text
        return int(response.json()["id"]), app

    with ThreadPoolExecutor(8) as pool:
        different = list(pool.map(lambda app: promote(app, next(urls), "staging"), APPS))
    same = []
    for _ in range(20):
        same.append(promote("web", next(urls), "production"))
        time.sleep(0.05)
    return different + same


def _assert_each_once(repo, requested: list[tuple[int, str]]) -> None:  # type: ignore[no-untyped-def]
    different = [pk for pk, app in requested if app != "web"]
    same = sorted(pk for pk, app in requested if app == "web")
    states = dict(Promotion.objects.filter(pk__in=[pk for pk, _app in requested]).values_list("pk", "state"))
    assert [pk for pk in different if states[pk] != State.COMMITTED] == []
    log = repo._git("log", "--format=%B", "main").decode()
    assert [pk for pk in different if log.count(f"Promotion-Id: {pk}\n") != 1] == []  # each exactly once
    assert len(repo._git("log", "--format=%H", "main").decode().split()) == 201
    for app in APPS:
        assert "newTag: 1.1.0" in repo.read(f"staging/{app}/kustomization.yaml")
    # The 20 of web: the newest is the one pull request left open; every older one superseded.
    assert (states[same[-1]], [states[pk] for pk in same[:-1]]) == (State.PR_OPEN, [State.SUPERSEDED] * 19)
    branches = repo._git("for-each-ref", "--format=%(refname:short)", "refs/heads/gitops-portal/").decode().split()
    assert branches == [f"gitops-portal/promotion-{same[-1]}"]
    # Every promotion's history: queued once, one resting state; the chain intact.
    queued = AuditEvent.objects.filter(action="promotion.queued").values_list("promotion_id", flat=True)
    assert sorted(queued) == sorted(pk for pk, _app in requested)
    assert audit_verify().intact
