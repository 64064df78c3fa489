"""The GitLab stand-in, driven the way the portal will drive GitLab: python-gitlab over real HTTP, plain git.

The portal bot ("portal-bot", token "portal-token") opens and merges promotion merge
requests; bob ("bob-token") is the release manager who approves them; carol
("carol-token") may look but not touch.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
from gitlab.v4.objects import Project

from sandbox.gitlab import GitLabStandIn
from sandbox.gitrepo import RepoBuilder
from tests.sandbox import helpers
from tests.sandbox.helpers import ALICE, BRANCH, branch, git, push_with_git

TOKENS = {"portal-token": "portal-bot", "bob-token": "bob", "carol-token": "carol"}
FULL_PATH = "acme/platform/gitops"


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLabStandIn]:
    """A running stand-in that knows the portal bot's, bob's and (read-only) carol's tokens."""
    with GitLabStandIn(root=tmp_path / "gitlab", tokens=TOKENS, read_only_tokens={"carol-token"}) as standin:
        yield standin


@pytest.fixture
def gitops(lab: GitLabStandIn) -> RepoBuilder:
    """acme/platform/gitops (a nested group), served by the stand-in, with web 1.0 deployed to prod on main."""
    repo = RepoBuilder(lab.create_repository("acme/platform", "gitops"))
    repo.commit({"apps/web/prod/tag.txt": "1.0\n"}, "Deploy web 1.0 to prod", author=ALICE)
    return repo


def client(lab: GitLabStandIn, token: str = "portal-token", **options: Any) -> gitlab.Gitlab:
    """python-gitlab pointed at the stand-in (it adds /api/v4), no transient retries unless asked."""
    return gitlab.Gitlab(lab.url, private_token=token, **options)


def project(lab: GitLabStandIn, token: str = "portal-token", **options: Any) -> Project:
    return client(lab, token, **options).projects.get(FULL_PATH)


def open_mr(proj: Project, source: str = BRANCH, title: str = "Promote web 1.1 to prod", **extra: Any) -> Any:
    data = {"source_branch": source, "target_branch": "main", "title": title, "description": "Release notes"}
    return proj.mergerequests.create({**data, **extra})


def call(
    lab: GitLabStandIn, method: str, path: str, *, token: str | None = "portal-token"
) -> tuple[int, dict[str, str], Any]:
    """A raw HTTP request (to read headers python-gitlab hides)."""
    connection = http.client.HTTPConnection("127.0.0.1", lab.port, timeout=5)
    connection.request(method, path, headers={"PRIVATE-TOKEN": token} if token else {})
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    body = json.loads(raw) if response.getheader("Content-Type", "").startswith("application/json") else raw.decode()
    return response.status, dict(response.getheaders()), body


class Receiver(helpers.Receiver):
    def events(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        """(X-Gitlab-Event, object_attributes.action, payload) per delivery, in order."""
        parsed = [(headers["X-Gitlab-Event"], json.loads(body)) for headers, body in self.received]
        return [(name, (payload.get("object_attributes") or {}).get("action"), payload) for name, payload in parsed]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver("/hooks/gitlab") as hooks:
        yield hooks


# -- projects, users and authentication ----------------------------------------------------------


def test_it_serves_a_nested_project_by_id_and_by_encoded_path(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    by_path = project(lab)
    by_id = client(lab).projects.get(lab.project_id("acme/platform", "gitops"))
    via_localhost = gitlab.Gitlab(f"http://localhost:{lab.port}", private_token="portal-token")

    assert (by_path.id, by_id.path_with_namespace, by_path.default_branch) == (1, FULL_PATH, "main")
    assert by_path.http_url_to_repo == lab.clone_url("acme/platform", "gitops") == gitops.url
    assert by_path.web_url == f"{lab.url}/{FULL_PATH}"
    assert via_localhost.projects.get(FULL_PATH).web_url == f"http://localhost:{lab.port}/{FULL_PATH}"
    assert lab.requests[0] == ("GET", "/projects/acme%2Fplatform%2Fgitops", 200)  # the path, URL-encoded


def test_it_creates_users_on_first_token_use_with_increasing_ids(lab: GitLabStandIn) -> None:
    bob = client(lab, "bob-token")
    bob.auth()
    portal = client(lab)
    portal.auth()

    assert bob.user is not None
    assert portal.user is not None
    assert (bob.user.username, bob.user.id, portal.user.username, portal.user.id) == ("bob", 1, "portal-bot", 2)
    assert (lab.user_id("bob"), lab.user_id("portal-bot")) == (1, 2)
    with pytest.raises(KeyError):
        lab.user_id("carol")


def test_it_refuses_a_bad_token_with_401_and_a_read_only_token_with_403(
    lab: GitLabStandIn, gitops: RepoBuilder
) -> None:
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_mr(project(lab))

    with pytest.raises(gitlab.GitlabAuthenticationError) as bad:
        client(lab, "stolen-token").projects.get(FULL_PATH)
    status, _, anonymous = call(lab, "GET", "/api/v4/user", token=None)
    carol = project(lab, "carol-token")
    with pytest.raises(gitlab.GitlabCreateError) as create:
        open_mr(carol, title="Sneaky")
    with pytest.raises(gitlab.GitlabAuthenticationError) as merge:
        carol.mergerequests.get(1).merge()

    assert (bad.value.response_code, bad.value.error_message) == (401, "401 Unauthorized")
    assert (status, anonymous) == (401, {"message": "401 Unauthorized"})
    assert gitlab.Gitlab(lab.url, oauth_token="bob-token").projects.get(FULL_PATH).id == 1  # Authorization: Bearer
    assert (create.value.response_code, create.value.error_message) == (403, "403 Forbidden")
    assert merge.value.response_code == 401  # GitLab's merge refusal for a user who may not merge
    assert [mr.state for mr in lab.merge_requests("acme/platform", "gitops")] == ["opened"]


def test_it_answers_404_for_an_unknown_project_or_merge_request(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    with pytest.raises(gitlab.GitlabGetError) as no_project:
        client(lab).projects.get("acme/nope")
    with pytest.raises(gitlab.GitlabGetError) as no_mr:
        project(lab).mergerequests.get(42)

    assert (no_project.value.response_code, no_project.value.error_message) == (404, "404 Project Not Found")
    assert (no_mr.value.response_code, no_mr.value.error_message) == (404, "404 Not found")


# -- merge requests ------------------------------------------------------------------------------


def test_it_opens_a_merge_request_from_a_branch_pushed_with_plain_git(
    lab: GitLabStandIn, gitops: RepoBuilder, tmp_path: Path
) -> None:
    pushed = push_with_git(
        tmp_path / "work", lab.clone_url("acme/platform", "gitops"), BRANCH, {"apps/web/prod/tag.txt": "1.1\n"}
    )
    proj = project(lab)

    created = open_mr(proj, labels="promotion,stage::prod")
    found = proj.mergerequests.list(state="opened", source_branch=BRANCH, get_all=True)

    assert [mr.iid for mr in found] == [created.iid] == [1]
    assert (created.source_branch, created.sha, created.target_branch, created.state) == (
        BRANCH,
        pushed,
        "main",
        "opened",
    )
    assert (created.author["username"], created.labels, created.detailed_merge_status) == (
        "portal-bot",
        ["promotion", "stage::prod"],
        "mergeable",
    )
    assert created.web_url == f"{lab.url}/{FULL_PATH}/-/merge_requests/1"
    assert (created.head_pipeline, created.changes_count) == (None, "1")
    assert created.diff_refs == {"base_sha": gitops.head(), "head_sha": pushed, "start_sha": gitops.head()}
    [copy] = lab.merge_requests("acme/platform", "gitops")
    assert (copy.iid, copy.sha, copy.state, copy.labels) == (1, pushed, "opened", ["promotion", "stage::prod"])


def test_it_reads_the_head_sha_live_from_the_bare_repository(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_mr(project(lab))

    moved = branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1.1\n"}, "Hotfix")

    assert project(lab).mergerequests.get(1).sha == moved
    assert lab.merge_requests("acme/platform", "gitops")[0].sha == moved


def test_it_refuses_a_second_open_merge_request_with_gitlabs_409(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    proj = project(lab)
    open_mr(proj)

    with pytest.raises(gitlab.GitlabCreateError) as raised:
        open_mr(proj, title="Promote again")

    assert raised.value.response_code == 409
    assert raised.value.error_message == ["Another open merge request already exists for this source branch: !1"]
    assert len(lab.merge_requests("acme/platform", "gitops")) == 1


def test_it_refuses_a_merge_request_from_a_branch_never_pushed(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    with pytest.raises(gitlab.GitlabCreateError) as raised:
        open_mr(project(lab), source="never-pushed")

    assert (raised.value.response_code, raised.value.error_message) == (400, {"source_branch": ["does not exist"]})
    assert lab.merge_requests("acme/platform", "gitops") == []


def test_it_closes_and_reopens_a_merge_request(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    proj = project(lab)
    mr = open_mr(proj)

    mr.state_event = "close"
    mr.save()
    closed = [(m.iid, m.state) for m in proj.mergerequests.list(state="closed", get_all=True)]
    mr.state_event = "reopen"
    mr.save()

    assert closed == [(1, "closed")]
    assert (mr.state, mr.closed_at) == ("opened", None)


def test_it_paginates_with_gitlabs_headers(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    proj = project(lab)
    for n in range(1, 6):
        branch(gitops, f"promote/web-1.{n}", {"apps/web/prod/tag.txt": f"1.{n}\n"})
        open_mr(proj, source=f"promote/web-1.{n}", title=f"Promote web 1.{n}")
    lab.clear_requests()

    iids = [mr.iid for mr in proj.mergerequests.list(get_all=True, per_page=2)]
    pages_fetched = lab.requests
    _, headers, last = call(lab, "GET", "/api/v4/projects/1/merge_requests?per_page=2&page=3")

    assert iids == [5, 4, 3, 2, 1]
    assert pages_fetched == [("GET", "/projects/1/merge_requests", 200)] * 3
    assert [mr["iid"] for mr in last] == [1]
    assert (headers["X-Total"], headers["X-Page"], headers["X-Per-Page"], headers["X-Next-Page"]) == ("5", "3", "2", "")
    assert [part.split("; ")[1] for part in headers["Link"].split(", ")] == ['rel="prev"', 'rel="first"', 'rel="last"']


# -- labels, notes, approvals --------------------------------------------------------------------


def test_it_keeps_labels_and_notes_on_the_merge_request(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    proj = project(lab)
    proj.labels.create({"name": "blocked", "color": "#ff0000"})
    mr = open_mr(proj, labels=["promotion"])

    mr.notes.create({"body": "Diff looks small."})
    project(lab, "bob-token").mergerequests.get(1).notes.create({"body": "Ship it after 18:00."})
    mr.labels = ["promotion", "stage::prod"]
    mr.save()

    assert [(n.author["username"], n.body) for n in mr.notes.list(sort="asc", get_all=True)] == [
        ("portal-bot", "Diff looks small."),
        ("bob", "Ship it after 18:00."),
    ]
    assert [n.body for n in mr.notes.list(get_all=True)] == [
        "Ship it after 18:00.",
        "Diff looks small.",
    ]  # newest first
    assert proj.mergerequests.get(1).labels == ["promotion", "stage::prod"]
    assert [(label.name, label.color) for label in proj.labels.list(get_all=True)] == [
        ("blocked", "#ff0000"),
        ("promotion", "#6699cc"),
        ("stage::prod", "#6699cc"),
    ]
    assert lab.merge_requests("acme/platform", "gitops")[0].notes[1] == ("bob", "Ship it after 18:00.")


def test_it_records_who_approved_and_lets_the_author_approve_too(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    head = branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    mine = open_mr(project(lab))
    bobs = project(lab, "bob-token").mergerequests.get(1)

    bobs.approve(sha=head)
    mine.approve()  # GitLab allows it unless the project forbids it: refusing to count it is the portal's job
    approvals = mine.approvals.get()
    with pytest.raises(gitlab.GitlabAuthenticationError) as twice:
        bobs.approve()
    bobs.unapprove()

    assert [a["user"]["username"] for a in approvals.approved_by] == ["bob", "portal-bot"]
    assert (approvals.approved, approvals.approvals_required, approvals.approvals_left) == (True, 0, 0)
    assert twice.value.response_code == 401
    assert lab.merge_requests("acme/platform", "gitops")[0].approved_by == ["portal-bot"]


# -- commit statuses and pipelines ----------------------------------------------------------------


def test_it_derives_the_head_pipeline_from_the_statuses_of_the_head(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    head = branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    proj = project(lab)
    open_mr(proj)
    commit = proj.commits.get(head, lazy=True)

    def pipeline() -> Any:
        return proj.mergerequests.get(1).head_pipeline

    commit.statuses.create({"state": "pending", "name": "ci/build"})
    pending = pipeline()
    lab.set_status("acme/platform", "gitops", head, "policy", "failed")
    commit.statuses.create({"state": "running", "name": "ci/build"})
    failed_while_running = pipeline()["status"]
    commit.statuses.create({"state": "success", "name": "ci/build", "target_url": "https://ci.example/1"})
    failed = pipeline()["status"]
    lab.set_status("acme/platform", "gitops", head, "policy", "success")

    assert (pending["status"], pending["sha"], pending["ref"]) == ("pending", head, BRANCH)
    assert failed_while_running == "running"  # GitLab's composite: unfinished jobs win over a failed one
    assert failed == "failed"
    assert (pipeline()["status"], pipeline()["id"]) == ("success", pending["id"])
    assert [(p.id, p.status) for p in proj.mergerequests.get(1).pipelines.list(get_all=True)] == [
        (pending["id"], "success")
    ]
    assert sorted((s.name, s.status) for s in commit.statuses.list(get_all=True)) == [
        ("ci/build", "success"),
        ("policy", "success"),
    ]


def test_it_refuses_to_post_the_same_running_status_twice_as_gitlab_does(
    lab: GitLabStandIn, gitops: RepoBuilder
) -> None:
    commit = project(lab).commits.get(gitops.head() or "", lazy=True)
    commit.statuses.create({"state": "running", "name": "ci"})

    with pytest.raises(gitlab.GitlabCreateError) as raised:
        commit.statuses.create({"state": "running", "name": "ci"})

    assert raised.value.response_code == 400
    assert raised.value.error_message.startswith("Cannot transition status via :run from :running")


# -- merging -----------------------------------------------------------------------------------


def test_it_merges_with_a_real_merge_commit_and_removes_the_source_branch(
    lab: GitLabStandIn, gitops: RepoBuilder
) -> None:
    before = gitops.head()
    head = branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    mr = open_mr(project(lab))

    mr.merge(sha=head, should_remove_source_branch=True)

    assert (mr.state, mr.merge_commit_sha, mr.merged_by["username"]) == ("merged", gitops.head(), "portal-bot")
    assert git(gitops.path, "rev-list", "--parents", "-n1", "main").split() == [gitops.head(), before, head]
    assert git(gitops.path, "log", "-1", "--format=%s%n%an", "main").split("\n")[:2] == [
        f"Merge branch '{BRANCH}' into 'main'",
        "portal-bot",
    ]
    assert gitops.read("apps/web/prod/tag.txt") == "1.1\n"
    assert BRANCH not in git(gitops.path, "branch", "--list")
    with pytest.raises(gitlab.GitlabMRClosedError) as again:
        mr.merge()
    assert (again.value.response_code, again.value.error_message) == (405, "405 Method Not Allowed")


def test_it_refuses_to_merge_until_the_required_pipeline_succeeds(lab: GitLabStandIn, tmp_path: Path) -> None:
    repo = RepoBuilder(lab.create_repository("acme", "strict", pipeline_must_succeed=True))
    repo.commit({"apps/web/prod/tag.txt": "1.0\n"}, "Deploy web 1.0", author=ALICE)
    head = branch(repo, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    proj = client(lab).projects.get("acme/strict")
    mr = open_mr(proj)
    refusals = []

    for state in (None, "running", "failed"):
        if state:
            lab.set_status("acme", "strict", head, "ci", state)
        with pytest.raises(gitlab.GitlabMRClosedError) as refused:
            mr.merge()
        refusals.append((refused.value.response_code, proj.mergerequests.get(1).detailed_merge_status))
    lab.set_status("acme", "strict", head, "ci", "success")
    mr.merge()

    assert refusals == [(405, "ci_must_pass"), (405, "ci_still_running"), (405, "ci_must_pass")]
    assert (mr.state, repo.head()) == ("merged", mr.merge_commit_sha)


def test_it_refuses_a_merge_with_a_stale_sha_with_409(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    reviewed = branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    mr = open_mr(project(lab))
    pushed_later = branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "6.6.6\n"}, "Sneaky change")
    main_before = gitops.head()

    with pytest.raises(gitlab.GitlabMRClosedError) as raised:
        mr.merge(sha=reviewed)

    assert (raised.value.response_code, raised.value.error_message) == (
        409,
        f"SHA does not match HEAD of source branch: {pushed_later}",
    )
    assert gitops.head() == main_before
    assert mr.merge(sha=pushed_later)["state"] == "merged"


def test_it_refuses_to_merge_conflicting_branches_with_405(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    mr = open_mr(project(lab))
    main_now = gitops.commit({"apps/web/prod/tag.txt": "1.0.1\n"}, "Hotfix straight to prod", author=ALICE)

    with pytest.raises(gitlab.GitlabMRClosedError) as raised:
        mr.merge()

    assert raised.value.response_code == 405
    assert gitops.head() == main_now
    refreshed = project(lab).mergerequests.get(1)
    assert (refreshed.has_conflicts, refreshed.merge_status, refreshed.detailed_merge_status) == (
        True,
        "cannot_be_merged",
        "conflict",
    )


# -- faults ---------------------------------------------------------------------------------------


def test_it_creates_the_merge_request_even_when_answering_502_after_the_work(
    lab: GitLabStandIn, gitops: RepoBuilder
) -> None:
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    proj = project(lab)
    lab.fail_once("POST", r"/merge_requests$", status=502, when="after")

    with pytest.raises(gitlab.GitlabCreateError) as lost:
        open_mr(proj)
    with pytest.raises(gitlab.GitlabCreateError) as retried:
        open_mr(proj)

    assert (lost.value.response_code, lost.value.error_message) == (502, "502 Bad Gateway")
    assert retried.value.response_code == 409
    assert [mr.iid for mr in lab.merge_requests("acme/platform", "gitops")] == [1]
    assert [r.status for r in lab.requests if r.method == "POST"] == [502, 409]


def test_it_shows_python_gitlabs_transient_retry_turning_a_lost_reply_into_a_409(
    lab: GitLabStandIn, gitops: RepoBuilder
) -> None:
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    proj = project(lab, retry_transient_errors=True)
    lab.fail_once("POST", r"/merge_requests$", status=502, when="after")

    with pytest.raises(gitlab.GitlabCreateError) as raised:
        open_mr(proj)

    assert raised.value.response_code == 409  # the caller never sees the 502: its MR exists, its retry was refused
    assert len(lab.merge_requests("acme/platform", "gitops")) == 1


def test_it_makes_python_gitlab_wait_and_retry_on_a_429(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    lab.rate_limit_once("GET", r"^/projects/[^/]+$", retry_after=1)

    started = time.monotonic()
    proj = project(lab)

    assert proj.path_with_namespace == FULL_PATH
    assert time.monotonic() - started >= 1
    assert [r.status for r in lab.requests] == [429, 200]


def test_it_answers_a_rate_limit_with_gitlabs_headers(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    lab.rate_limit_once("GET", "^/user$", retry_after=7)

    status, headers, body = call(lab, "GET", "/api/v4/user")

    assert (status, body, headers["Retry-After"], headers["RateLimit-Remaining"]) == (429, "Retry later\n", "7", "0")
    assert int(headers["RateLimit-Reset"]) >= int(time.time()) + 6


# -- webhooks ------------------------------------------------------------------------------------


def test_it_delivers_webhooks_with_the_token_header_and_redelivers_with_the_same_uuid(
    lab: GitLabStandIn, gitops: RepoBuilder, receiver: Receiver
) -> None:
    lab.add_webhook(receiver.url, "s3cret")
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_mr(project(lab))

    [delivery] = lab.wait_for_deliveries()
    lab.redeliver(delivery.id)
    lab.wait_for_deliveries(2)

    (headers, body), (again_headers, again_body) = receiver.received
    assert (headers["X-Gitlab-Token"], headers["X-Gitlab-Event"], headers["User-Agent"]) == (
        "s3cret",
        "Merge Request Hook",
        "GitLab/17.0.0",
    )
    assert (headers["X-Gitlab-Event-UUID"], headers["Content-Type"]) == (delivery.id, "application/json")
    payload = json.loads(body)
    assert (payload["object_kind"], payload["user"]["username"], payload["project"]["path_with_namespace"]) == (
        "merge_request",
        "portal-bot",
        FULL_PATH,
    )
    attributes = payload["object_attributes"]
    assert (attributes["iid"], attributes["action"], attributes["state"], attributes["source_branch"]) == (
        1,
        "open",
        "opened",
        BRANCH,
    )
    assert attributes["url"] == f"{lab.url}/{FULL_PATH}/-/merge_requests/1"
    assert (again_headers["X-Gitlab-Event-UUID"], again_body) == (delivery.id, body)
    assert (delivery.status, lab.deliveries[1].redelivery) == (200, True)


def test_it_sends_approval_note_pipeline_merge_and_push_hooks(
    lab: GitLabStandIn, gitops: RepoBuilder, receiver: Receiver, tmp_path: Path
) -> None:
    main = gitops.head() or ""
    head = push_with_git(tmp_path / "work", gitops.url, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})
    open_mr(project(lab))
    lab.add_webhook(receiver.url, "s3cret")

    lab.notify_push("acme/platform", "gitops", BRANCH, main, head, pusher="portal-bot")
    bobs = project(lab, "bob-token").mergerequests.get(1)
    bobs.approve()
    bobs.unapprove()
    bobs.notes.create({"body": "Merging."})
    lab.set_status("acme/platform", "gitops", head, "ci", "success")
    merged = bobs.merge()
    lab.wait_for_deliveries()

    events = receiver.events()
    assert [(name, action) for name, action, _ in events] == [
        ("Push Hook", None),
        ("Merge Request Hook", "update"),
        ("Merge Request Hook", "approved"),
        ("Merge Request Hook", "unapproved"),
        ("Note Hook", "create"),
        ("Pipeline Hook", None),
        ("Merge Request Hook", "merge"),
        ("Push Hook", None),
    ]
    push, update, _, _, note, pipeline, merge, merge_push = (payload for _, _, payload in events)
    assert (push["ref"], push["after"], push["user_username"], push["total_commits_count"]) == (
        f"refs/heads/{BRANCH}",
        head,
        "portal-bot",
        1,
    )
    assert (update["object_attributes"]["oldrev"], update["object_attributes"]["last_commit"]["id"]) == (main, head)
    assert (
        note["object_attributes"]["note"],
        note["object_attributes"]["noteable_type"],
        note["merge_request"]["iid"],
    ) == ("Merging.", "MergeRequest", 1)
    assert (
        pipeline["object_attributes"]["status"],
        pipeline["object_attributes"]["sha"],
        pipeline["merge_request"]["iid"],
    ) == ("success", head, 1)
    assert (merge["object_attributes"]["merge_commit_sha"], merge["user"]["username"]) == (
        merged["merge_commit_sha"],
        "bob",
    )
    assert (merge_push["ref"], merge_push["after"]) == ("refs/heads/main", merged["merge_commit_sha"])


def test_it_records_a_failed_delivery_without_blocking_the_api(lab: GitLabStandIn, gitops: RepoBuilder) -> None:
    lab.add_webhook("http://127.0.0.1:9/nobody-listens", "s3cret")
    branch(gitops, BRANCH, {"apps/web/prod/tag.txt": "1.1\n"})

    open_mr(project(lab))

    [delivery] = lab.wait_for_deliveries()
    assert (delivery.status, delivery.error is not None) == (None, True)


# -- the command line ------------------------------------------------------------------------------


def test_it_runs_from_the_command_line_and_prints_its_url(tmp_path: Path) -> None:
    RepoBuilder(tmp_path / "acme" / "platform" / "gitops.git").commit({"README.md": "hi\n"}, "init")
    command = [sys.executable, "-m", "sandbox.gitlab", "--root", str(tmp_path), "--token", "t=portal-bot"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]) as process:
        try:
            url = process.stdout.readline().strip() if process.stdout else ""
            assert gitlab.Gitlab(url, private_token="t").projects.get(FULL_PATH).default_branch == "main"
        finally:
            process.terminate()

    assert url.startswith("http://127.0.0.1:")
