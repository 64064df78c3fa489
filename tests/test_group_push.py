"""Direct commits queued for one branch land in one push: the writer holding the branch's lock
carries the others along, each still its own commit (its own trailers, its own file, its own
timeline), so a burst costs one fetch and one push instead of one each."""

import subprocess

from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import AuditEvent, Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from tests.builders import at, kustomization

State = Promotion.State


def request(path, app: str) -> Promotion:
    return promotion_request(catalog=catalog_load(path), applications=[app], from_stage="dev", to_stage="staging")


def with_cart(repo, path) -> None:
    repo.commit({"dev/cart/kustomization.yaml": kustomization("ghcr.io/acme/cart", "3.1.0"),
                 "staging/cart/kustomization.yaml": kustomization("ghcr.io/acme/cart", "3.0.0")}, "cart", date=at(1))  # fmt: skip
    matrix_refresh(catalog=catalog_load(path))


def log(repo, *args: str) -> list[str]:
    out = subprocess.run(["git", f"--git-dir={repo.path}", "log", "--format=%H", *args], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return out.stdout.split()


def files(repo, commit: str) -> list[str]:
    out = subprocess.run(["git", f"--git-dir={repo.path}", "show", "--name-only", "--format=", commit],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout.split()


def test_the_queued_direct_commits_of_a_branch_land_in_one_push(pipeline, repo):
    with_cart(repo, pipeline)
    before = repo.head()
    web, api, cart = (request(pipeline, app) for app in ("web", "api", "cart"))
    promotion_execute(promotion_id=web.pk)
    for promotion in (web, api, cart):
        promotion.refresh_from_db()
    assert [p.state for p in (web, api, cart)] == [State.COMMITTED] * 3
    new = log(repo, f"{before}..main")[::-1]  # oldest first: one commit each, in request order
    assert new == [web.commit, api.commit, cart.commit]
    assert [files(repo, c) for c in new] == [["staging/web/kustomization.yaml"], ["staging/api/kustomization.yaml"],
                                             ["staging/cart/kustomization.yaml"]]  # fmt: skip
    assert (web.base_commit, api.base_commit, cart.base_commit) == (before, web.commit, api.commit)
    message = AuditEvent.objects.filter(promotion=api, action="promotion.committed").get().message
    assert message == f"committed {api.commit[:10]} to main (pushed with #{web.pk})"
    assert promotion_execute(promotion_id=api.pk).state == State.COMMITTED  # its own task: nothing left to do
    assert log(repo, f"{before}..main")[::-1] == new


def test_a_rider_that_cannot_be_carried_out_fails_alone(pipeline, repo):
    with_cart(repo, pipeline)
    web, api, cart = (request(pipeline, app) for app in ("web", "api", "cart"))
    repo.commit({"staging/api/kustomization.yaml": "images: [unclosed\n"}, "Break api's overlay", date=at(2))
    promotion_execute(promotion_id=web.pk)
    for promotion in (web, api, cart):
        promotion.refresh_from_db()
    assert (web.state, api.state, cart.state) == (State.COMMITTED, State.FAILED, State.COMMITTED)
    assert "staging/api/kustomization.yaml" in api.error


def test_riders_go_back_to_the_queue_when_the_push_does_not_happen(pipeline, repo):
    web, api = request(pipeline, "web"), request(pipeline, "api")
    hook = repo.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'the server is read-only for maintenance' >&2\nexit 1\n")
    hook.chmod(0o755)
    web = promotion_execute(promotion_id=web.pk)  # a push the server declines: the promotion fails, saying why
    assert web.state == State.FAILED
    assert web.error.endswith("push rejected (pre-receive hook declined): the server is read-only for maintenance")
    api.refresh_from_db()
    assert api.state == State.QUEUED  # the rider is not failed for another's push: back in the queue, to run alone
    assert "read-only for maintenance" in api.error
    hook.unlink()
    assert promotion_execute(promotion_id=api.pk).state == State.COMMITTED
