"""The GitHub pipeline that tests of GitHub-specific behaviour share (acme/platform on the GitHub
stand-in); the tests every host must pass are parametrised in tests/test_promotions_hosted.py."""

import json

import pytest

from promotions.inbound.signatures import github_signature
from promotions.models import Promotion
from sandbox.github import GitHubStandIn
from tests.hosts import TOKENS, GitHubHost, hosted_pipeline, promote, run

__all__ = ["TOKENS", "promote", "run"]  # for the tests that import them from here

State = Promotion.State


@pytest.fixture
def gh(tmp_path):  # type: ignore[no-untyped-def]
    with GitHubStandIn(root=tmp_path / "github", tokens=TOKENS) as standin:
        yield standin


@pytest.fixture
def github_pipeline(gh, write_catalog, monkeypatch, db):  # type: ignore[no-untyped-def]
    """acme/platform on the GitHub stand-in (tests.hosts.hosted_pipeline)."""
    return hosted_pipeline(GitHubHost(gh.root, standin=gh), write_catalog, monkeypatch)


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
