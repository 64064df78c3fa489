"""GitLab's and Gitea's webhook events, acted on in a task like GitHub's.

A webhook is a hint, never the record: a merge request or pull request event makes the portal
read that pull request from the host (state, head, reviews) exactly as the sweeper does, so a
forged-looking, stale or out-of-order payload changes nothing the host does not confirm.
Pipeline and commit statuses are recorded as checks (a failing one blocks auto-merge); a push to
the branch re-reads the matrix.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from promotions.catalogue.connect import git_repository, provider_for
from promotions.catalogue.lookups import Catalog
from promotions.models import Promotion
from promotions.tracking.checks import check_record
from promotions.tracking.pull_requests import pull_request_poll

log = logging.getLogger(__name__)
State = Promotion.State
# GitLab pipeline statuses → the check states the portal knows (failing ones block auto-merge).
PIPELINE_STATES = {"success": "success", "failed": "failure", "canceled": "cancelled", "skipped": "success",
                   "manual": "pending"}  # fmt: skip


def host_event(*, event: str, payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    """Act on a stored `gitlab:<X-Gitlab-Event>` or `gitea:<X-Gitea-Event>` delivery."""
    host, _, kind = event.partition(":")
    if kind in ("Push Hook", "push"):
        _pushed(payload, repository, catalog)
    elif kind == "Pipeline Hook":
        attributes = payload.get("object_attributes") or {}
        status = str(attributes.get("status", ""))
        check_record(repository=repository, sha=str(attributes.get("sha", "")), name="pipeline",
                     state=PIPELINE_STATES.get(status, "pending"),
                     description=f"pipeline #{attributes.get('id', '?')} {status}", host=host)  # fmt: skip
    elif kind == "status":
        name = str(payload.get("context", "status"))
        check_record(repository=repository, sha=str(payload.get("sha", "")), name=name,
                     state=str(payload.get("state", "pending")), description=str(payload.get("description") or name),
                     host=host)  # fmt: skip
    else:
        _poll(_number(host, payload), repository, catalog)


def _number(host: str, payload: dict[str, Any]) -> Any:
    if host == "gitlab":
        attributes = payload.get("object_attributes") or {}
        return (payload.get("merge_request") or {}).get("iid") or attributes.get("iid")
    return (payload.get("pull_request") or {}).get("number") or payload.get("number")


def _poll(number: Any, repository: str, catalog: Catalog) -> None:
    if not isinstance(number, int):
        return
    waiting = Promotion.objects.filter(repository=repository, pull_request_number=number,
                                       state__in=(State.PR_OPEN, State.APPROVED))  # fmt: skip
    promotion = waiting.order_by("-pk").first()
    if promotion is None:
        return
    repo = catalog.repository(repository)
    provider = provider_for(repo, git=git_repository(repo), portal_url=settings.GITOPS_PORTAL_URL)
    pull_request_poll(promotion=promotion, provider=provider, catalog=catalog)


def _pushed(payload: dict[str, Any], repository: str, catalog: Catalog) -> None:
    from promotions.matrix.refresh import matrix_refresh

    if payload.get("ref") == f"refs/heads/{catalog.repository(repository).branch}":
        matrix_refresh(catalog=catalog, repositories=[repository])
