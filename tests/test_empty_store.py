"""A fresh server, before any refresh has stored a snapshot (or one nobody has refreshed for several
intervals): nothing answers as if the repository were empty, or from what was true an hour ago.
Command lines read Git first (one read at a time per repository); web requests wait a few seconds
for a worker's read, else 503 "not read yet, retry in N s" with Retry-After."""

import io
import json
import re
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from promotions.accounts.tokens import apitoken_create
from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Profile, Promotion, RepositoryState, StageVersion
from promotions.tasks import matrix_refresh_task
from promotions.workflow import store
from promotions.workflow.locks import branch_lock
from promotions.workflow.request import promotion_request
from promotions.workflow.store import READ_LOCK, NotReadYet, store_read
from sandbox.demo_cluster import desired_from_git
from sandbox.kube import KubeStandIn, Operator
from tests.builders import BOB, PIPELINE, at, bind_clusters, kustomization, pipeline_files
from tests.test_hooks import SLACK, command
from tests.test_workers import broker, redis_server, workers  # noqa: F401 - fixtures

NOT_READ = "repository platform: not read yet, retry in 10 s (a worker is reading it from Git now)"


@pytest.fixture
def fresh(repo, write_catalog, db, settings):
    """The pipeline's repository and catalogue (web and api in dev, staging and production) on a
    server that has never read it: no RepositoryState, no cells."""
    repo.commit(pipeline_files(), "Bootstrap", author=BOB, date=at(0))
    settings.SLACK_SIGNING_SECRET = SLACK
    return write_catalog(PIPELINE, url=repo.url)


@pytest.fixture
def quick(monkeypatch):
    """Web requests wait a moment only (no worker runs in these tests unless they start one)."""
    monkeypatch.setattr(store, "WEB_WAIT", 0.3)
    monkeypatch.setattr(store, "CHAT_WAIT", 0.3)


def api(user) -> Client:
    _, raw = apitoken_create(user=user, name="tests")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def worker_reads_git_in(seconds: float) -> threading.Thread:
    """What a worker does with the queued read, a moment after the request started waiting."""

    def work() -> None:
        time.sleep(seconds)
        matrix_refresh_task()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def queued_reads() -> int:
    """Matrix reads waiting in the broker's queue for a worker (Redis in CI, else the filesystem broker)."""
    from gitops_portal.celery import app

    task = "promotions.tasks.matrix_refresh_task"
    if app.conf.broker_url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        messages = redis.Redis.from_url(app.conf.broker_url).lrange("celery", 0, -1)
        return sum(task.encode() in message for message in messages)
    folder = Path(app.conf.broker_transport_options["data_folder_out"])
    return sum(task in path.read_text() for path in folder.glob("*.msg"))


# -- command lines read Git first ------------------------------------------------------------


def test_refresh_live_reads_git_first_and_finds_every_application(fresh, tmp_path):
    clusters = ("staging", "production")
    with KubeStandIn(token="portal-token", clusters=clusters) as kube:
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", clusters=list(clusters))
        fresh.write_text(bind_clusters(fresh, kubeconfig, clusters))
        Operator(kube, desired_from_git(catalog_load(fresh), tmp_path / "operator"), delay=0, step=0).sync_now()
        assert not RepositoryState.objects.exists()
        out = io.StringIO()
        call_command("refresh_live", stdout=out)
    assert "production: 2 applications, 3 list calls" in out.getvalue()
    assert "  web                      Healthy      Synced     1.0.0" in out.getvalue()
    assert RepositoryState.objects.get(name="platform").read_at is not None


def test_refresh_live_exits_2_naming_why_git_cannot_be_read(write_catalog, tmp_path, db):
    gone = (tmp_path / "gone.git").as_uri()
    write_catalog(PIPELINE, url=gone)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit:
        call_command("refresh_live", stdout=io.StringIO(), stderr=err)
    assert exit.value.code == 2
    assert err.getvalue().startswith(
        "error: repository platform: not read yet, retry in 10 s (the last read failed: repository 'platform': "
        f"cannot fetch {gone}: "
    )


def test_the_promote_command_reads_git_first(fresh, repo):
    out = io.StringIO()
    call_command("promote", "web", "--from", "dev", "--to", "staging", "--json", stdout=out)
    promotion = Promotion.objects.get()
    assert json.loads(out.getvalue())["id"] == promotion.pk
    assert [(i.application, i.from_version, i.to_version) for i in promotion.items.all()] == [("web", "1.0.0", "1.1.0")]


@pytest.mark.django_db(transaction=True)
def test_a_second_reader_waits_for_the_first_and_does_not_read_again(fresh, tmp_path):
    # The waiting reader's catalogue points at a repository that is gone: reading it would fail.
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(fresh.read_text().replace("file://", "file:///gone"))
    waited: list[BaseException | None] = []

    def second_reader() -> None:
        try:
            store_read(catalog=catalog_load(elsewhere), timeout=30)
            waited.append(None)
        except BaseException as exc:
            waited.append(exc)

    with branch_lock("platform", READ_LOCK):  # the first reader
        thread = threading.Thread(target=second_reader)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()  # waiting for the lock
        matrix_refresh(catalog=catalog_load(fresh))
    thread.join(10)
    assert waited == [None]
    assert StageVersion.objects.filter(application="web", stage="dev").get().version == "1.1.0"


def test_a_reader_that_waits_too_long_says_so(fresh):
    def hold() -> None:
        with branch_lock("platform", READ_LOCK):
            held.set()
            release.wait(5)

    held, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(NotReadYet, match="another process has been reading it for 0 s"):
            store_read(catalog=catalog_load(fresh), timeout=0.2)
    finally:
        release.set()
        thread.join()


def test_a_promotion_request_never_says_unknown_application_for_want_of_a_read(fresh, alice):
    with pytest.raises(NotReadYet, match=f"^{re.escape(NOT_READ)}$"):
        promotion_request(
            catalog=catalog_load(fresh), applications=["web"], from_stage="dev", to_stage="staging", requested_by=alice
        )
    assert not Promotion.objects.exists()


# -- the API waits for a worker's read, or answers 503 -----------------------------------------


def test_the_api_answers_503_with_retry_after_and_queues_the_read(fresh, alice, quick):
    queued = queued_reads()
    response = api(alice).get("/api/v1/matrix")
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json() == {"error": {"code": "not_read_yet", "message": NOT_READ, "details": {}}}
    assert queued_reads() == queued + 1
    assert api(alice).get("/api/v1/applications").status_code == 503
    assert queued_reads() == queued + 1  # one read queued, whoever asks meanwhile


def test_the_api_answers_once_the_worker_has_read(fresh, alice, quick):
    client = api(alice)
    assert client.get("/api/v1/applications").status_code == 503
    matrix_refresh_task()  # the worker takes the queued read
    apps = client.get("/api/v1/applications").json()
    assert [(a["name"], a["stages"]["dev"]["version"]) for a in apps["results"]] == [("api", "2.1.0"), ("web", "1.1.0")]


@pytest.mark.django_db(transaction=True)
def test_get_matrix_waits_for_the_worker_and_answers_the_whole_matrix(fresh, alice):
    worker = worker_reads_git_in(0.5)
    first = api(alice).get("/api/v1/matrix").json()  # answered once the versions are stored
    worker.join()  # the worker then fills in who changed each one last
    document = api(alice).get("/api/v1/matrix").json()
    out = io.StringIO()
    call_command("matrix", "--json", stdout=out)
    assert document == json.loads(out.getvalue())
    assert [a["name"] for a in document["applications"]] == ["api", "web"]
    versions = [{stage: cell["version"] for stage, cell in app["stages"].items()} for app in document["applications"]]
    assert [
        {stage: cell["version"] for stage, cell in app["stages"].items()} for app in first["applications"]
    ] == versions
    assert all(cell["commit"] for app in document["applications"] for cell in app["stages"].values() if cell["version"])


@pytest.mark.django_db(transaction=True)
def test_post_promotions_waits_for_the_worker_and_requests_the_promotion(fresh, alice):
    worker = worker_reads_git_in(0.5)
    response = api(alice).post(
        "/api/v1/promotions",
        {"applications": ["web"], "from_stage": "dev", "to_stage": "staging"},
        content_type="application/json",
    )
    worker.join()
    assert response.status_code == 202, response.content
    promotion = Promotion.objects.get()
    assert [(i.application, i.from_version, i.to_version) for i in promotion.items.all()] == [("web", "1.0.0", "1.1.0")]


def test_post_promotions_answers_503_not_unknown_application(fresh, alice, quick):
    response = api(alice).post(
        "/api/v1/promotions",
        {"applications": ["web"], "from_stage": "dev", "to_stage": "staging"},
        content_type="application/json",
    )
    assert (response.status_code, response["Retry-After"]) == (503, "10")
    assert response.json()["error"]["message"] == NOT_READ
    assert not Promotion.objects.exists()


def test_releases_and_rollbacks_answer_503_too(fresh, alice, quick):
    client = api(alice)
    release = client.post(
        "/api/v1/releases", {"application": "web", "version": "1.2.0"}, content_type="application/json"
    )
    rollback = client.post("/api/v1/rollbacks", {"application": "web", "stage": "dev"}, content_type="application/json")
    assert [(r.status_code, r.json()["error"]["code"]) for r in (release, rollback)] == [(503, "not_read_yet")] * 2


def test_a_repository_whose_reads_fail_says_why(write_catalog, tmp_path, alice, quick, settings):
    gone = (tmp_path / "gone.git").as_uri()
    write_catalog(PIPELINE, url=gone)
    matrix_refresh_task()  # the worker tried
    response = api(alice).get("/api/v1/matrix")
    assert response.status_code == 503
    assert response.json()["error"]["message"].startswith(
        f"repository platform: not read yet, retry in 10 s (the last read failed: repository 'platform': cannot fetch {gone}: "
    )


# -- chat ---------------------------------------------------------------------------------------


def test_chat_status_says_git_is_not_read_yet(fresh, client, quick):
    answer = command(client, "status web").json()
    assert answer["text"] == f"I have not read Git yet: {NOT_READ}."


@pytest.mark.django_db(transaction=True)
def test_chat_status_waits_for_the_worker_and_answers(fresh, client):
    worker = worker_reads_git_in(0.3)
    answer = command(client, "status web").json()
    worker.join()
    assert answer["text"] == "`web` dev 1.1.0 → staging 1.0.0 → production 1.0.0"


def test_chat_promote_says_git_is_not_read_yet(fresh, client, alice, quick):
    Profile.objects.create(user=alice, chat_user_id="U42")
    answer = command(client, "promote web to staging", user_id="U42").json()
    assert answer["text"] == f"I have not read Git yet: {NOT_READ}."
    assert not Promotion.objects.exists()


# -- a real worker ------------------------------------------------------------------------------


@pytest.mark.workers
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_reads_git_while_the_api_request_waits(fresh, alice, workers):  # noqa: F811
    workers()
    started = time.monotonic()
    response = api(alice).get("/api/v1/matrix")
    assert response.status_code == 200, response.content
    assert time.monotonic() - started < store.WEB_WAIT + 1
    web = next(a for a in response.json()["applications"] if a["name"] == "web")
    assert {stage: cell["version"] for stage, cell in web["stages"].items()} == {
        "dev": "1.1.0",
        "staging": "1.0.0",
        "production": "1.0.0",
    }


# -- a store nobody has refreshed for a long time counts as not read -------------------------------


def abandoned(path) -> None:
    """The repository was read once, then no worker or beat tried again for an hour."""
    matrix_refresh(catalog=catalog_load(path))
    RepositoryState.objects.update(checked_at=at(0))


def test_the_api_does_not_answer_from_a_store_nobody_refreshes(fresh, alice, quick):
    abandoned(fresh)
    response = api(alice).get("/api/v1/matrix")
    assert response.status_code == 503
    assert response.json()["error"]["message"].startswith(
        "repository platform: not read yet, retry in 10 s (last read "
    )
    assert response.json()["error"]["message"].endswith("min ago and not tried since: is a worker running?)")
    matrix_refresh_task()  # a worker is back
    assert api(alice).get("/api/v1/matrix").status_code == 200


def test_a_command_line_reads_git_again_when_the_store_was_abandoned(fresh, repo):
    abandoned(fresh)
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0")}, "a newer build")
    out = io.StringIO()
    call_command("promote", "web", "--from", "dev", "--to", "staging", "--json", stdout=out)
    assert json.loads(out.getvalue())["applications"][0]["to"] == "1.2.0"  # what Git says now, not the old cells


def test_a_store_whose_last_fetch_failed_recently_is_still_answered_from(fresh, alice, quick):
    matrix_refresh(catalog=catalog_load(fresh))
    RepositoryState.objects.update(error="cannot reach the server (connection refused)")  # tried, failed, just now
    document = api(alice).get("/api/v1/matrix").json()
    assert document["repositories"][0]["error"] == "cannot reach the server (connection refused)"
    assert [a["name"] for a in document["applications"]] == ["api", "web"]
