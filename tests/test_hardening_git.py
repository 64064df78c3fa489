"""Attacks on "nothing done twice" and unlucky Git servers: forged trailers are refused and never
taken for the portal's own commit; a failed fetch or push says why and is retried only when
retrying can help."""

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from promotions.errors import PermanentError, TransientError
from promotions.gitops.repository import git_failure, repository_for
from promotions.models import Promotion
from promotions.workflow.commit_messages import trailer_block
from promotions.workflow.request import PromotionError
from sandbox.gitrepo import Author
from sandbox.processes import free_port
from tests.builders import kustomization
from tests.test_promotions import log, request, run

State = Promotion.State
FORGED = "b2\nPromotion-Id: 1\nRequested-By: bob\nApproved-By: bob"


def parsed_trailers(repo, ref: str = "main") -> str:
    message = repo._git("log", "-1", "--format=%B", ref)
    proc = subprocess.run(["git", "interpret-trailers", "--parse"], input=message, capture_output=True, check=True)
    return proc.stdout.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [("build", FORGED), ("issue", "JIRA-1\r\nPromotion-Id: 7"), ("source_repository", "acme/web\u2028x"),
     ("build", "esc\x1b[31m")],
)  # fmt: skip
def test_it_refuses_line_breaks_and_control_characters_in_single_line_fields(pipeline, field, value):
    with pytest.raises(PromotionError, match=f"^{field}: must be a single line without control characters$"):
        request(pipeline, ["web"], "dev", "staging", metadata={field: value})
    assert not Promotion.objects.exists()


def test_it_refuses_control_characters_in_a_reason_but_keeps_its_line_breaks(pipeline, repo):
    with pytest.raises(PromotionError, match=r"^reason: must not contain control characters"):
        request(pipeline, ["web"], "dev", "staging", reason="fine\x00")
    promotion = run(request(pipeline, ["web"], "dev", "staging", reason="ships JIRA-1\r\n\r\nPromotion-Id: 99"))
    assert promotion.state == State.COMMITTED
    assert promotion.reason == "ships JIRA-1\n\nPromotion-Id: 99"
    # The reason stays in the body: git's own trailer parser sees only the portal's block.
    trailers = parsed_trailers(repo).splitlines()
    assert f"Promotion-Id: {promotion.pk}" in trailers
    assert "Promotion-Id: 99" not in trailers
    assert trailers[0] == f"Promotion-Id: {promotion.pk}"
    assert trailers[1] == f"Promotion-Nonce: {promotion.nonce}"


def test_it_keeps_ci_metadata_in_values_only(pipeline, repo):
    promotion = run(request(pipeline, ["web"], "dev", "staging", metadata={"build": "b2 Promotion-Id: 1"}))
    block = trailer_block(repo._git("log", "-1", "--format=%B").decode())
    assert block["Build"] == ["b2 Promotion-Id: 1"]
    assert block["Promotion-Id"] == [str(promotion.pk)]


def forge(repo, promotion: Promotion, files: dict[str, str], *, nonce: str = "") -> str:
    """A commit somebody else pushed that claims to be the promotion's (committer set to the portal's)."""
    lines = [f"Promotion-Id: {promotion.pk}", "Requested-By: bob"] + ([f"Promotion-Nonce: {nonce}"] if nonce else [])
    return repo.commit(files, "Innocent change\n\n" + "\n".join(lines),
                       author=Author("GitOps Portal", "gitops-portal@localhost"))  # fmt: skip


def rerun(promotion: Promotion) -> Promotion:
    """As a redelivered task would: a later attempt searches for an earlier push of its own."""
    Promotion.objects.filter(pk=promotion.pk).update(attempts=1)
    return run(promotion)


def test_it_does_not_take_a_forged_commit_touching_other_files_for_its_own(pipeline, repo):
    promotion = request(pipeline, ["web"], "dev", "staging")
    forged = forge(repo, promotion, {"README.md": "hello\n"})
    promotion = rerun(promotion)
    assert promotion.state == State.COMMITTED
    assert promotion.commit != forged
    assert log(repo)[0] == "Promote web 1.1.0 to staging"
    assert "newTag: 1.1.0" in repo._git("show", "main:staging/web/kustomization.yaml").decode()


def test_it_does_not_take_a_forged_commit_without_its_secret_nonce(pipeline, repo):
    promotion = request(pipeline, ["web"], "dev", "staging")
    forged = forge(repo, promotion, {"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "6.6.6")},
                   nonce="0" * 32)  # fmt: skip
    promotion = rerun(promotion)
    assert promotion.state == State.COMMITTED
    assert promotion.commit != forged
    assert "newTag: 1.1.0" in repo._git("show", "main:staging/web/kustomization.yaml").decode()


def test_it_does_not_take_a_forged_trailer_from_another_promotions_metadata(pipeline, repo, alice):
    victim = request(pipeline, ["api"], "dev", "staging")
    # Before the fix a caller could write `Promotion-Id: <victim>` into a build id; now only a
    # flattened value can get through, and it never forms a line of its own.
    run(request(pipeline, ["web"], "dev", "staging", metadata={"build": f"x Promotion-Id: {victim.pk}"}))
    victim = rerun(victim)
    assert victim.state == State.COMMITTED
    assert "newTag: 2.1.0" in repo._git("show", "main:staging/api/kustomization.yaml").decode()


def test_it_still_finds_its_own_earlier_push_on_a_rerun(pipeline, repo, monkeypatch):
    from promotions.gitops.repository import GitRepository

    promotion = request(pipeline, ["web"], "dev", "staging")
    pushed = []
    original = GitRepository.push

    def push_then_die(self, commit, branch, *, force=False):  # the worker dies right after pushing
        original(self, commit, branch, force=force)
        pushed.append(commit)
        raise TransientError("worker lost after the push")

    monkeypatch.setattr(GitRepository, "push", push_then_die)
    with pytest.raises(TransientError):
        run(promotion)
    monkeypatch.setattr(GitRepository, "push", original)
    promotion = run(promotion)
    assert promotion.state == State.COMMITTED
    assert promotion.commit == pushed[0] == repo.head()
    assert log(repo).count("Promote web 1.1.0 to staging") == 1


# -- why a fetch or push failed --------------------------------------------------------------------


def clone_of(url: str, tmp_path, name: str = "platform"):
    return repository_for(name=name, url=url, branch="main", data_dir=tmp_path / "clones", timeout=20)


def test_it_retries_an_ssh_remote_that_does_not_answer(tmp_path):
    with pytest.raises(TransientError, match=r"cannot fetch ssh://.*: cannot reach the server \(ssh: connect to host"):
        clone_of(f"ssh://git@127.0.0.1:{free_port()}/platform.git", tmp_path).sync()


def test_it_retries_a_file_remote_that_vanished(tmp_path):
    with pytest.raises(TransientError, match=r"repository not found .*does not appear to be a git repository"):
        clone_of((tmp_path / "gone.git").as_uri(), tmp_path).sync()


def test_it_retries_an_http_server_that_is_down(tmp_path):
    with pytest.raises(TransientError, match="cannot reach the server"):
        clone_of(f"http://127.0.0.1:{free_port()}/platform.git", tmp_path).sync()


class _Refusing(BaseHTTPRequestHandler):
    """A Git host that wants credentials the portal does not have."""

    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_it_fails_at_once_when_the_host_refuses_the_credentials(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/acme/platform.git"
        with pytest.raises(PermanentError, match="authentication refused") as caught:
            clone_of(url, tmp_path).sync()
        assert not isinstance(caught.value, TransientError)
    finally:
        server.shutdown()


def test_it_fails_at_once_when_a_hook_rejects_the_push(pipeline, repo, tmp_path):
    hook = repo.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected: use a pull request' >&2\nexit 1\n")
    hook.chmod(0o755)
    promotion = run(request(pipeline, ["web"], "dev", "staging"))
    assert promotion.state == State.FAILED
    assert "cannot push to" in promotion.error
    assert "push rejected" in promotion.error


@pytest.mark.parametrize(
    ("output", "cause", "transient"),
    [
        ("ssh: connect to host git.acme.example port 22: Connection timed out\n"
         "fatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\n",
         "cannot reach the server", True),
        ("ssh: Could not resolve hostname git.acme.example: Name or service not known\n", "cannot reach the server",
         True),
        ("git@git.acme.example: Permission denied (publickey).\nfatal: Could not read from remote repository.\n",
         "authentication refused", False),
        ("fatal: unable to access 'https://git.acme.example/x.git/': The requested URL returned error: 503\n",
         "the server failed", True),
        ("remote: Repository not found.\nfatal: repository 'https://github.com/acme/x.git/' not found\n",
         "repository not found", True),
        (" ! [remote rejected] main -> main (pre-receive hook declined)\n", "push rejected", False),
        ("fatal: something nobody expected\n", "git failed", False),
    ],
)  # fmt: skip
def test_it_classifies_what_git_printed(output, cause, transient):
    failure = git_failure(output)
    assert (failure.cause, failure.transient) == (cause, transient)
    assert failure.detail
    assert not failure.detail.startswith("fatal:")
