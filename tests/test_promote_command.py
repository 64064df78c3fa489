"""`manage.py promote`: the JSON contract and the exit codes."""

import io
import json

from django.core.management import call_command

from promotions.models import Promotion


def promote(*args: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("promote", *args, "--json", stdout=out, stderr=err)
    except SystemExit as exit:
        code = int(exit.code or 0)
    return code, json.loads(out.getvalue()), err.getvalue()


def test_it_commits_with_sync_and_prints_the_contract(pipeline, repo, alice):
    code, document, _ = promote("web", "--from", "dev", "--to", "staging", "--as", "alice", "--sync", "--reason", "go")
    promotion = Promotion.objects.get()
    assert code == 0
    assert document == {
        "id": promotion.pk,
        "state": "committed",
        "kind": "promote",
        "mode": "commit",
        "from_stage": "dev",
        "to_stage": "staging",
        "applications": [{"name": "web", "from": "1.0.0", "to": "1.1.0", "path": "staging/web/kustomization.yaml"}],
        "branch": "main",
        "commit": repo.head(),
        "pull_request": None,
        "error": None,
        "checks": {},
        "blocked_by_checks": [],
    }
    assert promotion.requested_by == alice


def test_it_opens_a_pull_request_into_a_reviewed_stage(pipeline, repo):
    promote("api", "--from", "dev", "--to", "staging", "--sync")
    code, document, _ = promote("api", "--from", "staging", "--to", "production", "--version", "2.1.0", "--sync")
    assert code == 0
    assert document["state"] == "pr_open"
    assert document["branch"] == f"gitops-portal/promotion-{document['id']}"
    assert document["pull_request"] == {
        "number": document["id"],
        "url": f"http://127.0.0.1:8000/promotions/{document['id']}/",
    }


def test_without_sync_it_is_queued_for_a_worker(pipeline):
    code, document, _ = promote("web", "--from", "dev", "--to", "staging")
    assert (code, document["state"], document["commit"]) == (0, "queued", None)


def test_a_failed_promotion_exits_1(pipeline, repo):
    pinned = "images:\n  - name: ghcr.io/acme/web\n    digest: sha256:" + "a" * 64 + "\n"
    repo.commit({"staging/web/kustomization.yaml": pinned}, "pin a digest")
    # The digest appeared after dev's 1.1.0: by first appearance, promoting 1.1.0 over it is a downgrade.
    code, document, _ = promote("web", "--from", "dev", "--to", "staging", "--allow-downgrade", "--sync")
    assert (code, document["state"]) == (1, "failed")
    assert document["error"] == (
        "refused: staging/web/kustomization.yaml:3: images[name=ghcr.io/acme/web] pins a digest; "
        "promote a digest (sha256:…) or add a newTag; nothing was committed"
    )


def test_a_refused_request_exits_2_with_one_line(pipeline):
    code, document, err = promote("nope", "--from", "dev", "--to", "staging")
    assert code == 2
    assert document == {"id": None, "state": "refused", "error": "unknown application 'nope'"}
    assert err == "error: unknown application 'nope'\n"


def test_an_unknown_user_is_refused(pipeline):
    code, document, _ = promote("web", "--from", "dev", "--to", "staging", "--as", "mallory")
    assert (code, document["error"]) == (2, "no user named 'mallory'")
