"""Every git command runs through one runner (promotions/gitops/runner.py): a time limit that
stops git and its helpers, git's own words when it fails, never a credential in a message.
Real git in temp dirs; the servers that misbehave are real sockets on 127.0.0.1."""

import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from promotions.catalogue.connect import git_repository
from promotions.catalogue.loader import catalog_load
from promotions.errors import PermanentError, TransientError
from promotions.gitops.repository import GitRepository, Person, PushRejected, repository_for
from promotions.gitops.runner import git_run, git_stream
from promotions.matrix.refresh import matrix_read_git, matrix_refresh
from promotions.models import Promotion
from promotions.reviews.approvals import approval_submit
from promotions.reviews.merge import promotion_merge
from sandbox.gitrepo import RepoBuilder
from sandbox.processes import free_port
from tests.builders import PLAIN, acting, at, kustomization
from tests.test_promotions import log, request, run

State = Promotion.State


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts every connection and never says a word: a hung Git host."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    for connection in held:
        connection.close()


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def bare(tmp_path) -> RepoBuilder:  # type: ignore[no-untyped-def]
    return RepoBuilder(tmp_path / "plain.git")


# -- a git that takes too long ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [("http://alice:s3cret@127.0.0.1:{port}/platform.git", "http://***@127.0.0.1:{port}/platform.git"),
     ("ssh://git@127.0.0.1:{port}/platform.git", "ssh://***@127.0.0.1:{port}/platform.git")],
)  # fmt: skip
def test_it_fails_a_promotion_whose_fetch_hangs_saying_it_took_longer_than_the_limit(
    pipeline, repo, silent_server, settings, url, shown
):
    settings.GITOPS_PORTAL_GIT_TIMEOUT = 1
    settings.GITOPS_PORTAL_MAX_ATTEMPTS = 1
    promotion = request(pipeline, ["web"], "dev", "staging")
    pipeline.write_text(pipeline.read_text().replace(repo.url, url.format(port=silent_server)))
    started = time.monotonic()
    promotion = run(promotion)
    assert time.monotonic() - started < 10  # git and its helper (git-remote-http, ssh) were stopped
    assert promotion.state == State.FAILED
    assert promotion.error == (
        f"gave up after 1 attempts: repository 'platform': git fetch {shown.format(port=silent_server)} "
        "took longer than 1s"
    )
    assert "s3cret" not in "".join(event.message for event in promotion.events.all())


def test_it_shows_a_fetch_that_hangs_as_the_repository_error_on_the_matrix(
    pipeline, repo, silent_server, settings, alice
):
    settings.GITOPS_PORTAL_GIT_TIMEOUT = 1
    url = f"http://alice:s3cret@127.0.0.1:{silent_server}/platform.git"
    pipeline.write_text(pipeline.read_text().replace(repo.url, url))
    matrix_refresh(catalog=catalog_load(pipeline))
    html = signed_in(alice).get(reverse("dashboard")).content.decode()
    assert (
        f"repository &#x27;platform&#x27;: git fetch http://***@127.0.0.1:{silent_server}/platform.git "
        "took longer than 1s"
    ) in html
    assert "s3cret" not in html


def test_it_stops_a_streamed_command_at_its_time_limit(silent_server, tmp_path):
    url = f"http://127.0.0.1:{silent_server}/platform.git"
    with git_stream(["fetch", url], git_dir=bare(tmp_path).path, timeout=1, label="repository 'plain'") as stream:
        started = time.monotonic()
        assert stream.stdout.read() == b""  # git was stopped: its output ends
        with pytest.raises(TransientError, match=r"^repository 'plain': git fetch took longer than 1s$"):
            stream.finish()
    assert time.monotonic() - started < 10


# -- a git that fails says why, in its own words ---------------------------------------------------


def test_it_shows_a_history_git_cannot_walk_as_the_repository_error_not_as_an_empty_history(
    repo, write_catalog, data_dir, alice
):
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.0.0")}, "Bootstrap", date=at(0))
    lost = repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "1.1.0", date=at(1))
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0")}, "1.2.0", date=at(2))
    catalog = catalog_load(write_catalog(PLAIN, url=repo.url))
    git_repository(catalog.repository("platform")).sync()
    loose = data_dir / "repos" / "platform.git" / "objects" / lost[:2] / lost[2:]
    loose.unlink()  # the clone lost an old commit (a disk, a crash): the current files still read
    reads = matrix_read_git(catalog=catalog)
    assert reads[0].snapshot is None
    assert reads[0].error == f"repository 'platform': git log failed: Could not read {lost}; revision walk setup failed"
    matrix_refresh(catalog=catalog)
    html = signed_in(alice).get(reverse("dashboard")).content.decode()
    assert f"repository &#x27;platform&#x27;: git log failed: Could not read {lost}; revision walk setup failed" in html


def test_it_names_what_git_said_when_a_local_command_fails(tmp_path):
    with pytest.raises(PermanentError, match=r"^repository 'plain': git rev-parse failed: Needed a single revision$"):
        git_run(["rev-parse", "--verify", "nothing^{commit}"], git_dir=bare(tmp_path).path, timeout=20,
                label="repository 'plain'")  # fmt: skip


def test_it_feeds_git_any_amount_of_input(tmp_path):
    content = bytes(range(256)) * 20_000  # 5 MB: more than any pipe holds
    result = git_run(["hash-object", "-w", "--stdin"], git_dir=bare(tmp_path).path, timeout=20, input=content)
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()
    assert result.stdout.decode().strip() == blob
    assert git_run(["cat-file", "blob", blob], git_dir=bare(tmp_path).path, timeout=20).stdout == content


def test_it_never_shows_the_credentials_of_a_url_or_the_token(tmp_path):
    url = f"http://alice:s3cret@127.0.0.1:{free_port()}/platform.git"
    clone = GitRepository(name="platform", url=url, branch="main", path=tmp_path / "clone.git", timeout=20,
                          token="ghp_token_value")  # fmt: skip
    with pytest.raises(TransientError, match=r"cannot reach the server") as caught:
        clone.sync()
    assert str(caught.value).startswith("repository 'platform': cannot fetch http://***@127.0.0.1:")
    assert "s3cret" not in str(caught.value)
    assert "ghp_token_value" not in str(caught.value)


# -- pushes ------------------------------------------------------------------------------------------


def test_it_fails_a_promotion_whose_push_a_hook_declines_with_the_hooks_words(pipeline, repo):
    hook = repo.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected: use a pull request' >&2\nexit 1\n")
    hook.chmod(0o755)
    promotion = run(request(pipeline, ["web"], "dev", "staging"))
    assert promotion.state == State.FAILED
    assert promotion.error == (
        f"repository 'platform': cannot push to {repo.url}: push rejected (pre-receive hook declined): "
        "protected: use a pull request"
    )


def test_it_takes_a_branch_that_moved_on_for_a_retry(pipeline, repo):
    git = git_repository(catalog_load(pipeline).repository("platform"))
    base = git.sync()
    mine = git.write_commit(base=base, files={"dev/web/kustomization.yaml": ("100644", b"mine\n")}, message="mine",
                            author=Person("Alice", "alice@acme.example"), committer=Person("Portal", "p@acme.example"))  # fmt: skip
    repo.commit({"dev/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "9.0.0")}, "elsewhere")
    with pytest.raises(PushRejected, match=r"^repository 'platform': main moved on while pushing; retrying on top"):
        git.push(mine, "main")


def test_it_commits_a_promotion_on_top_of_a_commit_pushed_just_before_its_own(pipeline, repo, monkeypatch):
    original, raced = GitRepository.push, []

    def someone_pushes_first(self, commit, branch, **kwargs):
        if not raced:
            raced.append(repo.commit({"dev/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "9.0.0")},
                                     "elsewhere"))  # fmt: skip
        return original(self, commit, branch, **kwargs)

    monkeypatch.setattr(GitRepository, "push", someone_pushes_first)
    promotion = run(request(pipeline, ["web"], "dev", "staging"))
    assert promotion.state == State.COMMITTED
    assert log(repo)[:2] == ["Promote web 1.1.0 to staging", "elsewhere"]


# -- merges ------------------------------------------------------------------------------------------


def approved_pull_request(pipeline, repo, alice, bob) -> Promotion:  # type: ignore[no-untyped-def]
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    matrix_refresh(catalog=catalog_load(pipeline))
    promotion = run(request(pipeline, ["web"], "staging", "production", requested_by=alice))
    approval_submit(promotion=promotion, actor=acting(bob, pipeline))
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED
    return promotion


def test_it_shows_git_s_words_when_a_pull_request_branch_cannot_be_merged(pipeline, repo, alice, bob):
    promotion = approved_pull_request(pipeline, repo, alice, bob)
    unrelated = RepoBuilder(repo.path, branch="unrelated").commit({"README": "another project\n"}, "elsewhere")
    repo._git("update-ref", f"refs/heads/{promotion.pr_branch}", unrelated)  # someone force-pushed the branch
    page = signed_in(bob).post(reverse("promotion-action", args=[promotion.pk, "merge"]), follow=True)
    assert "repository &#x27;platform&#x27;: git merge-tree failed: refusing to merge unrelated histories" in (
        page.content.decode()
    )
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED


def test_it_names_what_git_said_when_the_merge_commit_cannot_be_written(pipeline, repo, alice, bob, settings):
    promotion = approved_pull_request(pipeline, repo, alice, bob)
    settings.GITOPS_PORTAL_GIT_NAME = ""  # a deployment that set the variable empty
    with pytest.raises(PermanentError) as caught:
        promotion_merge(promotion=promotion, actor=acting(bob, pipeline))
    assert str(caught.value) == (
        "repository 'platform': git commit-tree failed: empty ident name (for <gitops-portal@localhost>) not allowed"
    )
    assert log(repo)[0] == "to staging"  # nothing was pushed


def test_it_runs_git_with_the_limit_and_words_of_the_runner_for_a_repository(tmp_path):
    clone = repository_for(name="platform", url=(tmp_path / "gone.git").as_uri(), branch="main", data_dir=tmp_path,
                           timeout=20)  # fmt: skip
    with pytest.raises(TransientError, match=r"^repository 'platform': cannot fetch file://.*: repository not found"):
        clone.sync()
    with pytest.raises(PermanentError, match=r"^repository 'platform': git ls-tree failed: not a tree object$"):
        clone.tree("0" * 40)
