"""The GitHub pipeline that tests of GitHub-specific behaviour share (acme/platform on the GitHub
stand-in); the tests every host must pass are parametrised in tests/test_promotions_hosted.py."""

import json

import pytest

from promotions.catalogue.loader import catalog_load
from promotions.inbound.signatures import github_signature
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from sandbox.github import GitHubStandIn
from sandbox.gitrepo import RepoBuilder
from tests.builders import BOB, PIPELINE, at, kustomization

State = Promotion.State
TOKENS = {"portal-token": "portal-bot", "bob-token": "bob"}


@pytest.fixture
def gh(tmp_path):
    with GitHubStandIn(root=tmp_path / "github", tokens=TOKENS) as standin:
        yield standin


@pytest.fixture
def github_pipeline(gh, write_catalog, monkeypatch, db):
    """acme/platform on the stand-in: web and api at 1.1.0/2.1.0 in staging, 1.0.0/2.0.0 in production."""
    repo = RepoBuilder(gh.create_repository("acme", "platform"))
    files = {}
    for app, new, old in (("web", "1.1.0", "1.0.0"), ("api", "2.1.0", "2.0.0")):
        for stage, version in (("dev", new), ("staging", new), ("production", old)):
            files[f"{stage}/{app}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", version)
    repo.commit(files, "Bootstrap", author=BOB, date=at(0))
    monkeypatch.setenv("PORTAL_GITHUB_TOKEN", "portal-token")
    github = (
        f'provider: github, github: {{repo: acme/platform, api_url: "{gh.api_url}", token_env: PORTAL_GITHUB_TOKEN}}'
    )
    path = write_catalog(
        PIPELINE.replace("branch: main}", f"branch: main, {github}}}"), url=gh.clone_url("acme", "platform")
    )
    matrix_refresh(catalog=catalog_load(path))
    return path, repo


def promote(path, app="web", **kwargs) -> Promotion:
    return promotion_request(
        catalog=catalog_load(path), applications=[app], from_stage="staging", to_stage="production", **kwargs
    )


def run(promotion: Promotion) -> Promotion:
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


SECRET = "webhook-test-secret"


def send(client, event: str, payload: dict, *, delivery: str = "d-1", secret: str = SECRET):  # type: ignore[no-untyped-def]
    """A GitHub delivery of `event`, signed with `secret`, to the portal's endpoint."""
    body = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
               "X-Hub-Signature-256": github_signature(secret, body)}  # fmt: skip
    return client.post("/webhooks/github/", body, content_type="application/json", headers=headers)


@pytest.fixture
def hooked(github_pipeline, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRET)
    return github_pipeline
