"""The GitHub stand-in, driven the way the portal drives GitHub: PyGithub over real HTTP, plain git.

The portal bot ("portal-bot", token "portal-token") opens and merges promotion pull
requests; bob ("bob-token") is the release manager who reviews them.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github import Auth, BadCredentialsException, Github, GithubException, GithubRetry, UnknownObjectException

from sandbox.github import GitHubStandIn
from sandbox.gitrepo import RepoBuilder
from tests.sandbox import helpers
from tests.sandbox.helpers import ALICE, BRANCH, branch, git, push_with_git

TOKENS = {"portal-token": "portal-bot", "bob-token": "bob"}


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[GitHubStandIn]:
    """A running stand-in that knows the portal bot's and bob's tokens."""
    with GitHubStandIn(root=tmp_path / "github", tokens=TOKENS) as standin:
        yield standin


@pytest.fixture
def platform(gh: GitHubStandIn) -> RepoBuilder:
    """acme/platform, served by the stand-in, with web 1.0 deployed to prod on main."""
    repo = RepoBuilder(gh.create_repository("acme", "platform"))
    repo.commit({"apps/web/prod/tag.txt": "1.0\n"}, "Deploy web 1.0 to prod", author=ALICE)
    return repo


def client(gh: GitHubStandIn, token: str = "portal-token", **options: Any) -> Github:
    """PyGithub pointed at the stand-in, no client-side throttling, no retries unless asked."""
    options.setdefault("retry", None)
    return Github(
        base_url=gh.api_url, auth=Auth.Token(token), seconds_between_requests=0, seconds_between_writes=0, **options
    )


@pytest.fixture
def portal_api(gh: GitHubStandIn) -> Iterator[Github]:
    api = client(gh)
    yield api
    api.close()


@pytest.fixture
def bob_api(gh: GitHubStandIn) -> Iterator[Github]:
    api = client(gh, "bob-token")
    yield api
    api.close()


def call(
    gh: GitHubStandIn,
    method: str,
    path: str,
    *,
    token: str | None = "portal-token",
    host: str | None = None,
    body: Any = None,
) -> tuple[int, dict[str, str], Any]:
    """A raw HTTP request (to check headers PyGithub hides, or to send a chosen Host)."""
    headers = {"Authorization": f"token {token}"} if token else {}
    if host:
        headers["Host"] = host
    connection = http.client.HTTPConnection("127.0.0.1", gh.port, timeout=5)
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), json.loads(raw) if raw else None


def open_pull(api: Github, head: str = BRANCH, title: str = "Promote web 1.1 to prod") -> Any:
    return api.get_repo("acme/platform").create_pull(
        base="main", head=f"acme:{head}", title=title, body="Release notes"
    )


class Receiver(helpers.Receiver):
    def events(self) -> list[tuple[str, dict[str, Any]]]:
        return [(headers["X-GitHub-Event"], json.loads(body)) for headers, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver("/hooks/github") as hooks:
        yield hooks


# -- repositories and authentication -----------------------------------------------------------


def test_it_serves_a_repository_with_urls_built_from_the_request_host(gh: GitHubStandIn, platform: RepoBuilder) -> None:
    repo = client(gh).get_repo("acme/platform")
    via_localhost = Github(base_url=f"http://localhost:{gh.port}/api/v3", auth=Auth.Token("portal-token"), retry=None)

    assert (repo.full_name, repo.owner.login, repo.default_branch) == ("acme/platform", "acme", "main")
    assert repo.clone_url == gh.clone_url("acme", "platform") == platform.url
    assert repo.url == f"{gh.api_url}/repos/acme/platform"
    assert via_localhost.get_repo("acme/platform").url == f"http://localhost:{gh.port}/api/v3/repos/acme/platform"


def test_it_answers_404_for_an_unknown_repository(gh: GitHubStandIn, portal_api: Github) -> None:
    with pytest.raises(UnknownObjectException) as raised:
        portal_api.get_repo("acme/nope")

    assert raised.value.data["message"] == "Not Found"


def test_it_refuses_a_bad_token_with_401_and_still_sends_rate_limit_headers(
    gh: GitHubStandIn, platform: RepoBuilder
) -> None:
    with pytest.raises(BadCredentialsException):
        client(gh, "stolen-token").get_repo("acme/platform")
    status, headers, body = call(gh, "GET", "/api/v3/repos/acme/platform", token="stolen-token")

    assert (status, body["message"]) == (401, "Bad credentials")
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= headers.keys()


def test_it_counts_requests_against_the_rate_limit(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github
) -> None:
    portal_api.get_repo("acme/platform")
    portal_api.get_repo("acme/platform")

    core = portal_api.get_rate_limit().resources.core
    assert (core.limit, core.remaining) == (5000, 4998)
    assert portal_api.rate_limiting == (4998, 5000)


# -- pull requests ----------------------------------------------------------------------------


def test_it_opens_a_pull_request_from_a_branch_pushed_with_plain_git(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github, tmp_path: Path
) -> None:
    pushed = push_with_git(
        tmp_path / "work", gh.clone_url("acme", "platform"), BRANCH, {"apps/web/prod/tag.txt": "1.1\n"}
    )

    created = open_pull(portal_api)
    found = list(portal_api.get_repo("acme/platform").get_pulls(state="open", head=f"acme:{BRANCH}"))

    assert [pr.number for pr in found] == [created.number] == [1]
    assert (created.head.ref, created.head.sha, created.base.ref) == (BRANCH, pushed, "main")
    assert (created.user.login, created.state, created.mergeable) == ("portal-bot", "open", True)
    assert created.html_url == f"{gh.url}/acme/platform/pull/1"


def test_it_reads_the_head_sha_live_from_the_bare_repository(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal_api)

    moved = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1.1\n"}, "Hotfix")

    assert portal_api.get_repo("acme/platform").get_pull(1).head.sha == moved


def test_it_refuses_a_duplicate_pull_request_with_githubs_message(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal_api)

    with pytest.raises(GithubException) as raised:
        open_pull(portal_api, title="Promote again")

    assert raised.value.status == 422
    assert raised.value.data["message"] == "Validation Failed"
    assert raised.value.data["errors"] == [
        {"resource": "PullRequest", "code": "custom", "message": f"A pull request already exists for acme:{BRANCH}."}
    ]
    assert len(gh.pulls("acme", "platform")) == 1


def test_it_refuses_a_pull_request_from_a_missing_branch_or_without_commits(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github
) -> None:
    git(platform.path, "update-ref", "refs/heads/empty", "refs/heads/main")

    with pytest.raises(GithubException) as missing:
        open_pull(portal_api, head="never-pushed")
    with pytest.raises(GithubException) as empty:
        open_pull(portal_api, head="empty")

    assert missing.value.data["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
    assert empty.value.data["errors"][0]["message"] == "No commits between main and acme:empty"
    assert gh.pulls("acme", "platform") == []


def test_it_paginates_with_link_headers_built_from_the_host(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github
) -> None:
    for n in range(1, 6):
        branch(platform, f"promote/web-1.{n}", {"apps/web/prod/tag.txt": f"1.{n}\n"})
        open_pull(portal_api, head=f"promote/web-1.{n}", title=f"Promote web 1.{n}")
    gh.clear_requests()

    numbers = [pr.number for pr in client(gh, per_page=2).get_repo("acme/platform").get_pulls(state="all")]
    pages_fetched = [r for r in gh.requests if r.path == "/repos/acme/platform/pulls"]
    _, headers, page = call(
        gh, "GET", "/api/v3/repos/acme/platform/pulls?per_page=2&page=2", host="github.example.test:8443"
    )

    assert numbers == [5, 4, 3, 2, 1]
    assert pages_fetched == [("GET", "/repos/acme/platform/pulls", 200)] * 3
    assert [pr["number"] for pr in page] == [3, 2]
    assert page[0]["url"] == "http://github.example.test:8443/api/v3/repos/acme/platform/pulls/3"
    base = "http://github.example.test:8443/api/v3/repos/acme/platform/pulls?per_page=2"
    assert (
        headers["Link"]
        == f'<{base}&page=1>; rel="prev", <{base}&page=1>; rel="first", <{base}&page=3>; rel="next", <{base}&page=3>; rel="last"'
    )


def test_it_closes_and_reopens_a_pull_request(gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    pr = open_pull(portal_api)

    pr.edit(state="closed", title="Superseded")
    closed = [(p.number, p.title) for p in portal_api.get_repo("acme/platform").get_pulls(state="closed")]
    pr.edit(state="open")

    assert closed == [(1, "Superseded")]
    assert (pr.state, pr.closed_at, pr.merged) == ("open", None, False)


# -- comments, labels, reviews ------------------------------------------------------------------


def test_it_keeps_comments_and_labels_on_the_pull_request(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github, bob_api: Github
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    pr = open_pull(portal_api)

    pr.create_issue_comment("Diff looks small.")
    bob_api.get_repo("acme/platform").get_pull(1).create_issue_comment("Ship it after 18:00.")
    pr.add_to_labels("promotion", "stage:prod")
    pr.add_to_labels("promotion")
    pr.remove_from_labels("stage:prod")

    assert [(c.user.login, c.body) for c in pr.get_issue_comments()] == [
        ("portal-bot", "Diff looks small."),
        ("bob", "Ship it after 18:00."),
    ]
    assert [label.name for label in pr.get_labels()] == ["promotion"]
    assert [label.name for label in portal_api.get_repo("acme/platform").get_pull(1).labels] == ["promotion"]


def test_it_records_reviews_as_the_token_user_and_refuses_self_approval(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github, bob_api: Github
) -> None:
    head = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal_api)

    bob_api.get_repo("acme/platform").get_pull(1).create_review(event="APPROVE", body="Approved for prod")
    with pytest.raises(GithubException) as raised:
        portal_api.get_repo("acme/platform").get_pull(1).create_review(event="APPROVE")

    assert raised.value.status == 422
    assert raised.value.data["errors"] == ["Can not approve your own pull request"]
    reviews = list(portal_api.get_repo("acme/platform").get_pull(1).get_reviews())
    assert [(r.user.login, r.state, r.body, r.commit_id) for r in reviews] == [
        ("bob", "APPROVED", "Approved for prod", head)
    ]
    assert reviews[0].submitted_at is not None


# -- merging ------------------------------------------------------------------------------------


def test_it_merges_with_a_real_merge_commit_and_refuses_a_second_merge(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github
) -> None:
    before = platform.head()
    head = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    pr = open_pull(portal_api)

    result = pr.merge(merge_method="merge", sha=head)

    assert (result.merged, result.message) == (True, "Pull Request successfully merged")
    assert platform.head() == result.sha
    assert git(platform.path, "rev-list", "--parents", "-n1", "main").split() == [result.sha, before, head]
    assert platform.read("apps/web/prod/tag.txt") == "1.1\n"
    merged = portal_api.get_repo("acme/platform").get_pull(1)
    assert (merged.merged, merged.state, merged.merge_commit_sha, merged.merged_by.login) == (
        True,
        "closed",
        result.sha,
        "portal-bot",
    )
    with pytest.raises(GithubException) as again:
        pr.merge(merge_method="merge")
    assert (again.value.status, again.value.data["message"]) == (405, "Pull Request is not mergeable")


def test_it_squash_merges_with_a_single_parent(gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github) -> None:
    before = platform.head()
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal_api)

    result = (
        portal_api.get_repo("acme/platform")
        .get_pull(1)
        .merge(merge_method="squash", commit_title="Promote web 1.1 (#1)")
    )

    assert git(platform.path, "rev-list", "--parents", "-n1", "main").split() == [result.sha, before]
    assert git(platform.path, "log", "-1", "--format=%s", "main").strip() == "Promote web 1.1 (#1)"
    assert platform.read("apps/web/prod/tag.txt") == "1.1\n"


def test_it_refuses_to_merge_conflicting_branches(gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    pr = open_pull(portal_api)
    main_now = platform.commit({"apps/web/prod/tag.txt": "1.0.1\n"}, "Hotfix straight to prod", author=ALICE)

    with pytest.raises(GithubException) as raised:
        pr.merge(merge_method="merge")

    assert (raised.value.status, raised.value.data["message"]) == (405, "Pull Request is not mergeable")
    assert platform.head() == main_now
    refreshed = portal_api.get_repo("acme/platform").get_pull(1)
    assert (refreshed.mergeable, refreshed.mergeable_state) == (False, "dirty")


def test_it_refuses_a_merge_with_a_stale_head_sha(gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github) -> None:
    reviewed = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    pr = open_pull(portal_api)
    pushed_later = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "6.6.6\n"}, "Sneaky change")
    main_before = platform.head()

    with pytest.raises(GithubException) as raised:
        pr.merge(merge_method="merge", sha=reviewed)

    assert (raised.value.status, raised.value.data["message"]) == (
        409,
        "Head branch was modified. Review and try the merge again.",
    )
    assert platform.head() == main_before
    assert pr.merge(merge_method="merge", sha=pushed_later).merged


# -- faults -------------------------------------------------------------------------------------


def test_it_creates_the_pull_request_even_when_answering_502_after_the_work(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    gh.fail_once("POST", r"/repos/acme/platform/pulls$", status=502, when="after")

    with pytest.raises(GithubException) as raised:
        open_pull(portal_api)
    with pytest.raises(GithubException) as retried:
        open_pull(portal_api)

    assert raised.value.status == 502
    assert retried.value.data["errors"][0]["message"] == f"A pull request already exists for acme:{BRANCH}."
    assert [pr.number for pr in gh.pulls("acme", "platform")] == [1]
    assert ("POST", "/repos/acme/platform/pulls", 502) in gh.requests


def test_it_shows_pygithubs_default_retry_turning_a_lost_reply_into_a_422(
    gh: GitHubStandIn, platform: RepoBuilder
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    gh.fail_once("POST", r"/pulls$", status=502, when="after")
    default_retry = Github(base_url=gh.api_url, auth=Auth.Token("portal-token"), seconds_between_writes=0)

    with pytest.raises(GithubException) as raised:
        open_pull(default_retry)

    assert raised.value.status == 422  # the caller never sees the 502: its PR exists, its retry was refused
    assert [r.status for r in gh.requests if r.method == "POST"] == [502, 422]
    assert len(gh.pulls("acme", "platform")) == 1


def test_it_answers_a_before_fault_from_the_http_control_api_without_doing_the_work(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    fault = {"method": "POST", "path": "/pulls$", "status": 503, "when": "before", "body": {"message": "Unicorn!"}}
    status, _, _ = call(gh, "POST", "/_sandbox/faults", token=None, body=fault)

    with pytest.raises(GithubException) as raised:
        open_pull(portal_api)
    nothing_created = gh.pulls("acme", "platform")
    call(gh, "DELETE", "/_sandbox/faults", token=None)
    open_pull(portal_api)
    _, _, served = call(gh, "GET", "/_sandbox/requests", token=None)

    assert status == 201
    assert (raised.value.status, raised.value.data) == (503, {"message": "Unicorn!"})
    assert nothing_created == []
    assert [s["status"] for s in served if s["path"] == "/repos/acme/platform/pulls"] == [503, 201]


def test_it_makes_pygithub_wait_and_retry_on_a_rate_limit(gh: GitHubStandIn, platform: RepoBuilder) -> None:
    gh.rate_limit_once("GET", r"^/repos/acme/platform$", retry_after=1)
    patient = client(gh, retry=GithubRetry(total=3, backoff_factor=0))

    started = time.monotonic()
    repo = patient.get_repo("acme/platform")

    assert repo.full_name == "acme/platform"
    assert time.monotonic() - started >= 1
    assert [r.status for r in gh.requests] == [403, 200]


def test_it_answers_a_rate_limit_with_githubs_body_and_headers(gh: GitHubStandIn, platform: RepoBuilder) -> None:
    gh.rate_limit_once("GET", r"^/repos/acme/platform$", retry_after=7)

    status, headers, body = call(gh, "GET", "/api/v3/repos/acme/platform")

    assert (status, headers["Retry-After"], headers["X-RateLimit-Remaining"]) == (403, "7", "0")
    assert body["message"].startswith("API rate limit exceeded")


# -- webhooks -----------------------------------------------------------------------------------


def test_it_delivers_signed_webhooks_and_redelivers_with_the_same_id(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github, receiver: Receiver
) -> None:
    gh.add_webhook(receiver.url, "s3cret")
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal_api)

    [delivery] = gh.wait_for_deliveries()
    gh.redeliver(delivery.id)
    gh.wait_for_deliveries(2)

    (headers, body), (again_headers, again_body) = receiver.received
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == expected
    assert (headers["X-GitHub-Event"], headers["X-GitHub-Delivery"], headers["User-Agent"]) == (
        "pull_request",
        delivery.id,
        "GitHub-Hookshot/sandbox",
    )
    payload = json.loads(body)
    assert (payload["action"], payload["number"], payload["sender"]["login"]) == ("opened", 1, "portal-bot")
    assert payload["pull_request"]["head"]["ref"] == BRANCH
    assert (delivery.status, delivery.event) == (200, "pull_request")
    assert (again_headers["X-GitHub-Delivery"], again_body) == (delivery.id, body)
    assert gh.deliveries[1].redelivery


def test_it_sends_review_comment_merge_and_push_webhooks(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github, bob_api: Github, receiver: Receiver
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal_api)
    gh.add_webhook(receiver.url, "s3cret")

    bob_pull = bob_api.get_repo("acme/platform").get_pull(1)
    bob_pull.create_review(event="APPROVE")
    bob_pull.create_issue_comment("Merging.")
    result = bob_pull.merge(merge_method="merge")
    gh.wait_for_deliveries()

    events = receiver.events()
    assert [(name, payload.get("action")) for name, payload in events] == [
        ("pull_request_review", "submitted"),
        ("issue_comment", "created"),
        ("pull_request", "closed"),
        ("push", None),
    ]
    assert events[0][1]["review"]["state"] == "approved".upper()
    assert events[1][1]["issue"]["pull_request"]["url"].endswith("/repos/acme/platform/pulls/1")
    assert (events[2][1]["pull_request"]["merged"], events[2][1]["sender"]["login"]) == (True, "bob")
    assert (events[3][1]["ref"], events[3][1]["after"], events[3][1]["head_commit"]["id"]) == (
        "refs/heads/main",
        result.sha,
        result.sha,
    )


def test_it_records_a_failed_delivery_without_blocking_the_api(
    gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github
) -> None:
    gh.add_webhook("http://127.0.0.1:9/nobody-listens", "s3cret")
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})

    open_pull(portal_api)

    [delivery] = gh.wait_for_deliveries()
    assert (delivery.status, delivery.error is not None) == (None, True)


# -- commit statuses and the command line -------------------------------------------------------


def test_it_combines_commit_statuses_per_context(gh: GitHubStandIn, platform: RepoBuilder, portal_api: Github) -> None:
    commit = portal_api.get_repo("acme/platform").get_commit("main")

    commit.create_status("pending", context="ci")
    pending = commit.get_combined_status().state
    commit.create_status("success", context="ci")
    commit.create_status("failure", context="policy", description="replicas < 2")
    failing = commit.get_combined_status()
    commit.create_status("success", context="policy")

    assert pending == "pending"
    assert (failing.state, failing.total_count, failing.sha) == ("failure", 2, platform.head())
    assert commit.get_combined_status().state == "success"


def test_it_runs_from_the_command_line_and_prints_its_base_url(tmp_path: Path) -> None:
    RepoBuilder(tmp_path / "acme" / "platform.git").commit({"README.md": "hi\n"}, "init")
    command = [sys.executable, "-m", "sandbox.github", "--root", str(tmp_path), "--token", "t=portal-bot"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]) as process:
        try:
            base_url = process.stdout.readline().strip() if process.stdout else ""
            api = Github(base_url=base_url, auth=Auth.Token("t"), retry=None)
            assert api.get_repo("acme/platform").default_branch == "main"
        finally:
            process.terminate()

    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/api/v3")
