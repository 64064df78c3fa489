"""The Gitea stand-in, driven the way the portal's Gitea client drives Gitea: `requests` over real HTTP, plain git.

The portal bot ("portal-bot", token "portal-token") opens and merges promotion pull
requests; bob ("bob-token") is the release manager who reviews them; carol
("carol-token") is a viewer whose token has read scopes only; alice is the developer
whose commits are promoted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.gitea import GiteaStandIn
from sandbox.gitrepo import RepoBuilder
from tests.sandbox import helpers
from tests.sandbox.helpers import ALICE, BRANCH, branch, git, push_with_git

TOKENS = {"portal-token": "portal-bot", "bob-token": "bob", "carol-token": "carol"}
SECRET = "s3cret"


# -- fixtures and helpers ----------------------------------------------------------------------


class Client:
    """`requests` against the stand-in's API as one token's user (what the portal's client does)."""

    def __init__(self, gitea: GiteaStandIn, token: str | None) -> None:
        self.base = gitea.api_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"token {token}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.base}{path}", params=params, timeout=5)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.session.post(f"{self.base}{path}", json=body, timeout=5)

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.session.patch(f"{self.base}{path}", json=body, timeout=5)


@pytest.fixture
def gitea(tmp_path: Path) -> Iterator[GiteaStandIn]:
    """A running stand-in that knows the portal bot's, bob's and (read-only) carol's tokens."""
    with GiteaStandIn(root=tmp_path / "gitea", tokens=TOKENS, read_only_tokens={"carol-token"}) as standin:
        yield standin


@pytest.fixture
def platform(gitea: GiteaStandIn) -> RepoBuilder:
    """acme/platform with web 1.0 deployed to prod on main; main needs bob's approval and green statuses."""
    repo = RepoBuilder(gitea.create_repository("acme", "platform", required_approvals=1, block_on_failed_status=True))
    repo.commit({"apps/web/prod/tag.txt": "1.0\n"}, "Deploy web 1.0 to prod", author=ALICE)
    return repo


@pytest.fixture
def portal(gitea: GiteaStandIn) -> Iterator[Client]:
    client = Client(gitea, "portal-token")
    yield client
    client.session.close()


@pytest.fixture
def bob(gitea: GiteaStandIn) -> Iterator[Client]:
    client = Client(gitea, "bob-token")
    yield client
    client.session.close()


def open_pull(client: Client, head: str = BRANCH, **extra: Any) -> requests.Response:
    body = {"head": head, "base": "main", "title": "Promote web 1.1 to prod", "body": "Release notes", **extra}
    return client.post("/repos/acme/platform/pulls", body)


def approved_and_green(gitea: GiteaStandIn, bob: Client, head: str) -> None:
    """What main's protection wants before a merge: bob's approval and a successful CI status."""
    assert bob.post("/repos/acme/platform/pulls/1/reviews", {"event": "APPROVED"}).status_code == 200
    gitea.set_status("acme", "platform", head, "ci/build", "success")


class Receiver(helpers.Receiver):
    """Checks every delivery's `X-Gitea-Signature` as the portal must; keeps (headers, body, signed)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        super().__init__("/hooks/gitea")

    def record(self, headers: dict[str, str], body: bytes) -> int:
        expected = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(headers.get("X-Gitea-Signature", ""), expected)
        self.received.append((headers, body, signed))
        return 200 if signed else 403

    def events(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(X-Gitea-Event, X-Gitea-Event-Type, payload) of every delivery, in order."""
        return [(h["X-Gitea-Event"], h["X-Gitea-Event-Type"], json.loads(body)) for h, body, _ in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SECRET) as hooks:
        yield hooks


# -- the user, repositories and authentication ---------------------------------------------------


def test_it_serves_the_user_and_the_repository_with_urls_built_from_the_request_host(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client
) -> None:
    user = portal.get("/user").json()
    repo = portal.get("/repos/acme/platform").json()
    via_proxy = portal.session.get(
        f"{gitea.api_url}/repos/acme/platform", headers={"Host": "git.acme.example:3000"}, timeout=5
    ).json()

    assert (user["id"], user["login"]) == (1, "portal-bot")
    assert (repo["full_name"], repo["owner"]["login"], repo["default_branch"]) == ("acme/platform", "acme", "main")
    assert repo["clone_url"] == gitea.clone_url("acme", "platform") == platform.url
    assert repo["html_url"] == f"{gitea.url}/acme/platform"
    assert via_proxy["url"] == "http://git.acme.example:3000/api/v1/repos/acme/platform"
    assert portal.get("/version").json() == {"version": "1.24.0"}


def test_it_refuses_missing_unknown_and_read_only_tokens_like_gitea(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client
) -> None:
    missing = Client(gitea, None).get("/repos/acme/platform")
    unknown = Client(gitea, "stolen-token").get("/repos/acme/platform")
    bearer = requests.get(f"{gitea.api_url}/user", headers={"Authorization": "Bearer bob-token"}, timeout=5)
    carol = Client(gitea, "carol-token")
    read = carol.get("/repos/acme/platform")
    write = carol.post("/repos/acme/platform/labels", {"name": "promotion", "color": "#00aabb"})
    nowhere = portal.get("/repos/acme/nope")

    assert (missing.status_code, missing.json()["message"]) == (401, "token is required")
    assert (unknown.status_code, unknown.json()["message"]) == (401, "access token does not exist [sha: stolen-token]")
    assert unknown.json()["url"] == f"{gitea.url}/api/swagger"
    assert (bearer.status_code, bearer.json()["login"]) == (200, "bob")
    assert read.status_code == 200
    assert (write.status_code, write.json()["message"]) == (
        403,
        "token does not have at least one of required scope(s): [write:issue]",
    )
    assert (nowhere.status_code, nowhere.json()["message"]) == (404, "The target couldn't be found.")
    assert [r.status for r in gitea.requests] == [401, 401, 200, 200, 403, 404]


# -- pull requests ----------------------------------------------------------------------------


def test_it_opens_a_pull_request_from_a_branch_pushed_with_plain_git(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, tmp_path: Path
) -> None:
    pushed = push_with_git(
        tmp_path / "work", gitea.clone_url("acme", "platform"), BRANCH, {"apps/web/prod/tag.txt": "1.1\n"}
    )

    created = open_pull(portal)
    listed = portal.get("/repos/acme/platform/pulls", state="open")
    closed = portal.get("/repos/acme/platform/pulls", state="closed")

    pr = created.json()
    assert created.status_code == 201
    assert (pr["number"], pr["state"], pr["merged"], pr["mergeable"]) == (1, "open", False, True)
    assert (pr["head"]["ref"], pr["head"]["sha"], pr["base"]["ref"]) == (BRANCH, pushed, "main")
    assert (pr["user"]["login"], pr["html_url"]) == ("portal-bot", f"{gitea.url}/acme/platform/pulls/1")
    assert ([p["number"] for p in listed.json()], listed.headers["X-Total-Count"]) == ([1], "1")
    assert closed.json() == []
    assert gitea.pulls("acme", "platform")[0].head_sha == pushed


def test_it_refuses_a_second_open_pull_request_for_the_same_branches_with_409(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)

    again = open_pull(portal, title="Promote again")

    assert again.status_code == 409
    assert again.json()["message"] == (
        "pull request already exists for these targets [id: 1, issue_id: 1, head_repo_id: 1, base_repo_id: 1, "
        f"head_branch: {BRANCH}, base_branch: main]"
    )
    assert len(gitea.pulls("acme", "platform")) == 1


def test_it_answers_404_for_a_pull_request_from_a_branch_never_pushed(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client
) -> None:
    missing = open_pull(portal, head="never-pushed")

    assert (missing.status_code, missing.json()["message"]) == (404, "The target couldn't be found.")
    assert gitea.pulls("acme", "platform") == []


def test_it_finds_a_pull_request_by_its_base_and_head_branches(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)

    found = portal.get(f"/repos/acme/platform/pulls/main/{BRANCH}")
    with_owner = portal.get(f"/repos/acme/platform/pulls/main/acme:{BRANCH}")
    none = portal.get("/repos/acme/platform/pulls/main/promote/web-9.9")

    assert (found.status_code, found.json()["number"]) == (200, 1)
    assert with_owner.json()["number"] == 1
    assert none.status_code == 404


def test_it_paginates_with_gitea_link_and_total_count_headers(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client
) -> None:
    for n in range(1, 4):
        branch(platform, f"promote/web-1.{n}", {"apps/web/prod/tag.txt": f"1.{n}\n"})
        open_pull(portal, head=f"promote/web-1.{n}")

    page = portal.get("/repos/acme/platform/pulls", state="all", limit=2, page=1)
    last = portal.get("/repos/acme/platform/pulls", state="all", limit=2, page=2)

    base = f"{gitea.api_url}/repos/acme/platform/pulls?limit=2"
    assert [p["number"] for p in page.json()] == [3, 2]
    assert page.headers["X-Total-Count"] == "3"
    assert page.headers["Link"] == f'<{base}&page=2&state=all>; rel="next",<{base}&page=2&state=all>; rel="last"'
    assert [p["number"] for p in last.json()] == [1]
    assert last.headers["Link"] == f'<{base}&page=1&state=all>; rel="first",<{base}&page=1&state=all>; rel="prev"'


def test_it_closes_and_reopens_a_pull_request_but_never_a_merged_one(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, bob: Client
) -> None:
    head = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)

    closed = portal.patch("/repos/acme/platform/pulls/1", {"state": "closed", "title": "Superseded"})
    reopened = portal.patch("/repos/acme/platform/pulls/1", {"state": "open"})
    approved_and_green(gitea, bob, head)
    portal.post("/repos/acme/platform/pulls/1/merge", {"Do": "merge"})
    after_merge = portal.patch("/repos/acme/platform/pulls/1", {"state": "open"})

    assert (closed.status_code, closed.json()["state"], closed.json()["title"]) == (201, "closed", "Superseded")
    assert reopened.json()["state"] == "open"
    assert (after_merge.status_code, after_merge.json()["message"]) == (
        412,
        "cannot change state of this pull request, it was already merged",
    )


# -- labels, comments, reviews ------------------------------------------------------------------


def test_it_labels_a_pull_request_by_id_and_by_name(gitea: GiteaStandIn, platform: RepoBuilder, portal: Client) -> None:
    promotion = portal.post("/repos/acme/platform/labels", {"name": "promotion", "color": "#00aabb"}).json()
    portal.post("/repos/acme/platform/labels", {"name": "stage/prod", "color": "ee0701"})
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal, labels=[promotion["id"]])

    added = portal.post("/repos/acme/platform/issues/1/labels", {"labels": ["stage/prod", "no-such-label"]})
    mixed = portal.post("/repos/acme/platform/issues/1/labels", {"labels": [promotion["id"], "stage/prod"]})

    assert promotion["color"] == "00aabb"
    assert [label["name"] for label in added.json()] == ["promotion", "stage/prod"]
    assert [label["name"] for label in portal.get("/repos/acme/platform/labels").json()] == ["promotion", "stage/prod"]
    assert (mixed.status_code, mixed.json()["message"]) == (400, "labels should be an array of strings or integers")
    assert gitea.pulls("acme", "platform")[0].labels == ["promotion", "stage/prod"]


def test_it_keeps_comments_on_the_pull_request(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, bob: Client
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)

    created = portal.post("/repos/acme/platform/issues/1/comments", {"body": "Diff looks small."})
    bob.post("/repos/acme/platform/issues/1/comments", {"body": "Ship it after 18:00."})
    empty = bob.post("/repos/acme/platform/issues/1/comments", {"body": ""})
    listed = portal.get("/repos/acme/platform/issues/1/comments")

    assert created.status_code == 201
    assert created.json()["html_url"] == f"{gitea.url}/acme/platform/pulls/1#issuecomment-1"
    assert [(c["user"]["login"], c["body"]) for c in listed.json()] == [
        ("portal-bot", "Diff looks small."),
        ("bob", "Ship it after 18:00."),
    ]
    assert (empty.status_code, empty.json()["message"]) == (422, "[Body]: Required")
    assert gitea.pulls("acme", "platform")[0].comments == [
        ("portal-bot", "Diff looks small."),
        ("bob", "Ship it after 18:00."),
    ]


def test_it_records_reviews_and_refuses_the_authors_own_approval(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, bob: Client
) -> None:
    head = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)

    approved = bob.post("/repos/acme/platform/pulls/1/reviews", {"event": "APPROVED", "body": "Approved for prod"})
    changes = bob.post("/repos/acme/platform/pulls/1/reviews", {"event": "REQUEST_CHANGES", "body": "Wait for 18:00"})
    own = portal.post("/repos/acme/platform/pulls/1/reviews", {"event": "APPROVED"})
    github_style = bob.post("/repos/acme/platform/pulls/1/reviews", {"event": "APPROVE"})

    assert approved.status_code == 200
    shown = approved.json()
    assert (shown["user"]["login"], shown["state"], shown["stale"]) == ("bob", "APPROVED", False)
    assert shown["commit_id"] == head
    assert changes.json()["state"] == "REQUEST_CHANGES"
    assert (own.status_code, own.json()["message"]) == (422, "approve your own pull is not allowed")
    assert (github_style.status_code, github_style.json()["message"]) == (422, "review event APPROVE requires a body")
    listed = portal.get("/repos/acme/platform/pulls/1/reviews").json()
    assert [(r["state"], r["official"]) for r in listed] == [("APPROVED", False), ("REQUEST_CHANGES", True)]
    assert gitea.pulls("acme", "platform")[0].reviews == [
        (1, "bob", "APPROVED", "Approved for prod", head),
        (2, "bob", "REQUEST_CHANGES", "Wait for 18:00", head),
    ]


def test_it_marks_a_review_stale_once_the_head_moves(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, bob: Client
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)
    bob.post("/repos/acme/platform/pulls/1/reviews", {"event": "APPROVED"})

    moved = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1.1\n"}, "Hotfix")

    [review] = portal.get("/repos/acme/platform/pulls/1/reviews").json()
    assert review["stale"] is True
    assert portal.get("/repos/acme/platform/pulls/1").json()["head"]["sha"] == moved


# -- commit statuses ---------------------------------------------------------------------------


def test_it_combines_commit_statuses_into_the_worst_latest_state(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client
) -> None:
    sha = platform.head() or ""
    nothing = portal.get("/repos/acme/platform/commits/main/status").json()

    created = portal.post(f"/repos/acme/platform/statuses/{sha}", {"state": "pending", "context": "ci/build"})
    pending = portal.get("/repos/acme/platform/commits/main/status").json()["state"]
    gitea.set_status("acme", "platform", sha, "ci/build", "success")
    gitea.set_status("acme", "platform", sha, "policy", "failure")
    failing = portal.get(f"/repos/acme/platform/commits/{sha}/status").json()
    history = portal.get("/repos/acme/platform/commits/main/statuses").json()

    assert (nothing["state"], nothing["total_count"]) == ("", 0)
    assert (created.status_code, created.json()["status"], created.json()["creator"]["login"]) == (
        201,
        "pending",
        "portal-bot",
    )
    assert pending == "pending"
    assert (failing["state"], failing["total_count"], failing["sha"]) == ("failure", 2, sha)
    assert [(s["context"], s["status"]) for s in history] == [
        ("policy", "failure"),
        ("ci/build", "success"),
        ("ci/build", "pending"),
    ]


# -- merging ------------------------------------------------------------------------------------


def test_it_merges_with_a_real_merge_commit(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, bob: Client
) -> None:
    before = platform.head()
    head = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)
    approved_and_green(gitea, bob, head)

    merged = portal.post(
        "/repos/acme/platform/pulls/1/merge",
        {"Do": "merge", "head_commit_id": head, "delete_branch_after_merge": True},
    )

    assert (merged.status_code, merged.content) == (200, b"")
    sha = platform.head() or ""
    assert git(platform.path, "rev-list", "--parents", "-n1", "main").split() == [sha, before, head]
    assert git(platform.path, "log", "-1", "--format=%s|%an", "main").strip() == (
        f"Merge pull request 'Promote web 1.1 to prod' (#1) from {BRANCH} into main|portal-bot"
    )
    assert platform.read("apps/web/prod/tag.txt") == "1.1\n"
    assert portal.get("/repos/acme/platform/pulls/1/merge").status_code == 204
    pr = portal.get("/repos/acme/platform/pulls/1").json()
    assert (pr["merged"], pr["state"], pr["merge_commit_sha"], pr["merged_by"]["login"]) == (
        True,
        "closed",
        sha,
        "portal-bot",
    )
    assert portal.get(f"/repos/acme/platform/branches/{BRANCH}").status_code == 404
    assert portal.get("/repos/acme/platform/branches/main").json()["commit"]["id"] == sha


def test_it_refuses_to_merge_without_the_required_approval_or_green_statuses(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, bob: Client
) -> None:
    head = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)
    main_before = platform.head()

    no_status = portal.post("/repos/acme/platform/pulls/1/merge", {"Do": "merge"})
    gitea.set_status("acme", "platform", head, "ci/build", "failure")
    failing = portal.post("/repos/acme/platform/pulls/1/merge", {"Do": "merge"})
    gitea.set_status("acme", "platform", head, "ci/build", "success")
    unapproved = portal.post("/repos/acme/platform/pulls/1/merge", {"Do": "merge"})

    assert (no_status.status_code, no_status.json()["message"]) == (405, "Not all required status checks successful")
    assert (failing.status_code, failing.json()["message"]) == (405, "Not all required status checks successful")
    assert (unapproved.status_code, unapproved.json()["message"]) == (405, "Does not have enough approvals")
    assert portal.get("/repos/acme/platform/pulls/1/merge").status_code == 404
    assert platform.head() == main_before


def test_it_refuses_to_merge_conflicting_or_closed_pull_requests(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, bob: Client
) -> None:
    head = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)
    approved_and_green(gitea, bob, head)
    platform.commit({"apps/web/prod/tag.txt": "1.0.1\n"}, "Hotfix straight to prod", author=ALICE)

    conflicting = portal.post("/repos/acme/platform/pulls/1/merge", {"Do": "merge"})
    portal.patch("/repos/acme/platform/pulls/1", {"state": "closed"})
    closed = portal.post("/repos/acme/platform/pulls/1/merge", {"Do": "merge"})

    assert (conflicting.status_code, conflicting.json()["message"]) == (405, "Please try again later")
    assert portal.get("/repos/acme/platform/pulls").json() == []
    assert (closed.status_code, closed.json()["message"]) == (404, "The target couldn't be found.")


def test_it_refuses_a_merge_when_the_head_moved_past_the_reviewed_commit(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, bob: Client
) -> None:
    reviewed = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)
    pushed_later = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "6.6.6\n"}, "Sneaky change")
    approved_and_green(gitea, bob, pushed_later)
    main_before = platform.head()

    stale = portal.post("/repos/acme/platform/pulls/1/merge", {"Do": "merge", "head_commit_id": reviewed})

    assert (stale.status_code, stale.json()["message"]) == (409, "head out of date")
    assert platform.head() == main_before
    assert portal.post("/repos/acme/platform/pulls/1/merge", {"Do": "merge", "head_commit_id": pushed_later}).ok


# -- faults -------------------------------------------------------------------------------------


def test_it_creates_the_pull_request_once_even_when_answering_502_after_the_work(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    gitea.fail_once("POST", r"/repos/acme/platform/pulls$", status=502, when="after")

    lost = open_pull(portal)
    retried = open_pull(portal)

    assert lost.status_code == 502
    assert retried.status_code == 409
    assert [pr.number for pr in gitea.pulls("acme", "platform")] == [1]
    assert [r for r in gitea.requests if r.method == "POST"] == [
        ("POST", "/repos/acme/platform/pulls", 502),
        ("POST", "/repos/acme/platform/pulls", 409),
    ]
    assert portal.get(f"/repos/acme/platform/pulls/main/{BRANCH}").json()["number"] == 1


def test_it_answers_429_with_retry_after_before_doing_the_work(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client
) -> None:
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    gitea.rate_limit_once("POST", r"/pulls$", retry_after=7)

    limited = open_pull(portal)
    nothing_created = gitea.pulls("acme", "platform")
    retried = open_pull(portal)

    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert nothing_created == []
    assert retried.status_code == 201


# -- webhooks -----------------------------------------------------------------------------------


def test_it_delivers_signed_webhooks_for_the_whole_life_of_a_pull_request(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, bob: Client, receiver: Receiver
) -> None:
    gitea.add_webhook(receiver.url, SECRET)
    head = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})

    open_pull(portal)
    bob.post("/repos/acme/platform/pulls/1/reviews", {"event": "APPROVED", "body": "Go"})
    bob.post("/repos/acme/platform/issues/1/comments", {"body": "Merging."})
    gitea.set_status("acme", "platform", head, "ci/build", "success")
    portal.post("/repos/acme/platform/pulls/1/merge", {"Do": "merge"})
    gitea.wait_for_deliveries(6)

    events = receiver.events()
    assert [(event, kind, payload.get("action")) for event, kind, payload in events] == [
        ("pull_request", "pull_request", "opened"),
        ("pull_request_approved", "pull_request_review_approved", "reviewed"),
        ("issue_comment", "pull_request_comment", "created"),
        ("status", "status", None),
        ("pull_request", "pull_request", "closed"),
        ("push", "push", None),
    ]
    assert all(signed for _, _, signed in receiver.received)
    assert all(delivery.status == 200 for delivery in gitea.deliveries)
    opened, review, comment, status, closed, push = (payload for _, _, payload in events)
    assert (opened["number"], opened["sender"]["login"], opened["repository"]["full_name"]) == (
        1,
        "portal-bot",
        "acme/platform",
    )
    assert opened["pull_request"]["head"]["sha"] == head
    assert review["review"] == {"type": "pull_request_review_approved", "content": "Go"}
    assert (comment["is_pull"], comment["comment"]["body"]) == (True, "Merging.")
    assert (status["sha"], status["context"], status["state"]) == (head, "ci/build", "success")
    assert (closed["pull_request"]["merged"], closed["pull_request"]["merge_commit_sha"]) == (True, platform.head())
    assert push["ref"] == "refs/heads/main"
    assert push["after"] == push["head_commit"]["id"] == platform.head()


def test_it_announces_a_push_made_with_plain_git_and_synchronises_its_pull_request(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, receiver: Receiver
) -> None:
    first = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)
    gitea.add_webhook(receiver.url, SECRET, events=("push", "pull_request_sync"))

    moved = branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1.1\n"}, "Hotfix")
    gitea.notify_push("acme", "platform", BRANCH, first, moved, pusher="portal-bot")
    gitea.wait_for_deliveries(2)

    (_, _, push), (event, kind, sync) = receiver.events()
    assert (push["before"], push["after"], [c["id"] for c in push["commits"]]) == (first, moved, [moved])
    assert (event, kind, sync["action"]) == ("pull_request", "pull_request_sync", "synchronized")
    assert sync["pull_request"]["head"]["sha"] == moved


def test_it_redelivers_with_the_same_delivery_id_and_body(
    gitea: GiteaStandIn, platform: RepoBuilder, portal: Client, receiver: Receiver
) -> None:
    gitea.add_webhook(receiver.url, SECRET, events=("pull_request",))
    branch(platform, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_pull(portal)

    [delivery] = gitea.wait_for_deliveries(1)
    gitea.redeliver(delivery.id)
    gitea.wait_for_deliveries(2)

    (headers, body, _), (again_headers, again_body, signed) = receiver.received
    assert headers["X-Gitea-Delivery"] == again_headers["X-Gitea-Delivery"] == delivery.id
    assert (again_body, signed) == (body, True)
    assert "X-Forgejo-Delivery" not in headers
    assert gitea.deliveries[1].redelivery


def test_the_forgejo_flavour_sends_both_header_families_with_the_same_values(
    tmp_path: Path, receiver: Receiver
) -> None:
    with GiteaStandIn(root=tmp_path / "forgejo", tokens=TOKENS, flavour="forgejo") as forgejo:
        repo = RepoBuilder(forgejo.create_repository("acme", "platform"))
        repo.commit({"apps/web/prod/tag.txt": "1.0\n"}, "Deploy web 1.0 to prod", author=ALICE)
        branch(repo, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
        forgejo.add_webhook(receiver.url, SECRET)
        client = Client(forgejo, "portal-token")
        open_pull(client)
        version = client.get("/version").json()["version"]
        forgejo.wait_for_deliveries(1)

    [(headers, body, signed)] = receiver.received
    assert signed
    for name in ("Event", "Event-Type", "Delivery", "Signature"):
        assert headers[f"X-Forgejo-{name}"] == headers[f"X-Gitea-{name}"]
    assert headers["X-Forgejo-Event"] == "pull_request"
    assert headers["X-Hub-Signature-256"] == f"sha256={headers['X-Forgejo-Signature']}"
    assert json.loads(body)["action"] == "opened"
    assert version == "11.0.0+gitea-1.22.0"
