"""Instant sync: once a change lands in a stage, ask the stage's GitOps operator to fetch it now
rather than at its next poll. The operator's own polling stays the safety net, so a receiver
problem never fails the promotion; it is retried like a notification, then recorded.

- Flux: notification-controller's `Receiver` webhook (a POST to its `.status.webhookPath`). Type
  `generic` when the catalogue names no `secret_env`; `generic-hmac` when it does, signed with
  `X-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.
- Argo CD: the API server's `/api/webhook`, sent a GitHub `push` event (`X-GitHub-Event: push`),
  which Argo CD matches to Applications by repository URL, ref and changed files; signed with
  `X-Hub-Signature-256: sha256=<hex>` (argocd-secret's `webhook.github.secret`) when a secret is set.

The receiver's URL is a secret (a Flux receiver's path is a digest of its token): it is read from
the environment when sending and never stored, logged or audited; only its scheme and host are.
Delivery (the HTTP call, retries, the log) is `notifications.deliver`'s; this module knows what
to send and what to record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from promotions.audit.chain import audit_record
from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import OPERATOR_TITLES, OperatorConfig, ReceiverConfig, RepositoryConfig
from promotions.errors import PermanentError
from promotions.models import NotificationDelivery, Promotion

# NotificationDelivery.kind of a call to each operator (beside "slack" and "webhook").
KINDS = {"flux": "flux-receiver", "argocd": "argocd-webhook"}
RECEIVER_KINDS = frozenset(KINDS.values())
EVENT = "sync"
LANDED_STATES = (Promotion.State.COMMITTED, Promotion.State.MERGED)
ACTOR = "portal"
REQUESTED, FAILED = "operator.sync_requested", "operator.sync_failed"


@dataclass(frozen=True)
class OperatorReceiver:
    """Where and how to ask one stage's operator to sync; shaped like a `NotificationConfig`
    (`kind`, `url`, `url_env`, `secret_env`) so the delivery treats both alike."""

    stage: str
    operator: OperatorConfig
    receiver: ReceiverConfig
    repository: RepositoryConfig | None = None  # the promotion's (for Argo CD's push event)

    url = None  # never in the catalogue: always from `url_env`

    @property
    def kind(self) -> str:
        return KINDS[self.operator.kind]

    @property
    def url_env(self) -> str:
        return self.receiver.url_env

    @property
    def secret_env(self) -> str | None:
        return self.receiver.secret_env

    @property
    def described(self) -> str:
        """For messages: "Flux's receiver in staging"."""
        return f"{self.operator.title}'s receiver in {self.stage}"


def subscription_name(stage: str) -> str:
    """`NotificationDelivery.subscription` of the calls to `stage`'s operator."""
    return f"operator:{stage}"


def stage_receiver(catalog: Catalog, stage: str) -> OperatorReceiver | None:
    """The stage's operator receiver, or None when the stage has none."""
    config = catalog.stage(stage)
    if config is None or config.operator is None or config.operator.receiver is None:
        return None
    return OperatorReceiver(stage, config.operator, config.operator.receiver)


def sync_payload(promotion: Promotion, target: OperatorReceiver) -> dict[str, Any]:
    """What the delivery row keeps: which call it is (the request itself is built when sent,
    from the promotion as it landed; nothing secret)."""
    return {"promotion": promotion.pk, "stage": target.stage, "operator": target.operator.kind,
            "repository": promotion.repository}  # fmt: skip


def delivery_receiver(catalog: Catalog, delivery: NotificationDelivery) -> OperatorReceiver:
    """The receiver a queued call goes to, as the catalogue says now (it may have been removed)."""
    stage = str(delivery.payload.get("stage", ""))
    target = stage_receiver(catalog, stage)
    if target is None:
        raise PermanentError(f"stage {stage} no longer has an operator receiver in the catalogue")
    if KINDS[target.operator.kind] != delivery.kind:
        raise PermanentError(f"stage {stage}'s operator is now {target.operator.title}")
    name = str(delivery.payload.get("repository", ""))
    repository = next((repo for repo in catalog.repositories if repo.name == name), None)
    if repository is None:
        raise PermanentError(f"repository {name} is no longer in the catalogue")
    return OperatorReceiver(target.stage, target.operator, target.receiver, repository)


def receiver_request(
    target: OperatorReceiver, delivery: NotificationDelivery, secret: str
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the call (signed with `secret` unless it is empty)."""
    promotion = delivery.promotion
    if promotion is None:
        raise PermanentError("the promotion it was for no longer exists")
    change = _landed(promotion)
    headers = {"Content-Type": "application/json", "User-Agent": "gitops-portal",
               "X-Portal-Delivery": str(delivery.pk)}  # fmt: skip
    if target.operator.kind == "argocd":
        body = _json(_push_event(change, target.repository))
        headers |= {"X-GitHub-Event": "push", "X-GitHub-Delivery": f"gitops-portal-{delivery.pk}"}
        if secret:
            headers["X-Hub-Signature-256"] = signature(secret, body)
        return body, headers
    body = _json({"source": "gitops-portal", "promotion": promotion.pk, "stage": target.stage,
                  "repository": promotion.repository, "branch": change.branch, "revision": change.after,
                  "paths": change.paths})  # fmt: skip
    if secret:
        headers["X-Signature"] = signature(secret, body)
    return body, headers


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of body>`: Flux's `X-Signature` and GitHub's `X-Hub-Signature-256`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def refusal_hint(target: OperatorReceiver, status: int) -> str:
    """What a person should check when the receiver refuses the call."""
    if status == 404:
        return f" (is {target.url_env} the {_endpoint(target)}?)"
    if status in (400, 401, 403) and target.secret_env:
        return f" (does {target.secret_env} hold the secret {target.operator.title} checks the signature with?)"
    return ""


def origin(url: str) -> str:
    """The scheme and host of `url` (all of a receiver's URL that may be shown)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if _port(parts) else ""
    return f"{parts.scheme}://{host}{port}" if parts.scheme and host else "(not a URL)"


def sync_recorded(delivery: NotificationDelivery, receiver_origin: str) -> None:
    """On the promotion's timeline (and in the audit history): the operator was asked to sync,
    or could not be and will find the change at its next poll."""
    title = OPERATOR_TITLES.get(str(delivery.payload.get("operator", "")), "the operator")
    if delivery.status == NotificationDelivery.Status.DELIVERED:
        action, message = REQUESTED, f"asked {title} to sync now"
    else:
        action = FAILED
        message = f"could not ask {title} to sync: {delivery.last_error}; it will pick the change up at its next poll"
    targets = {"delivery": delivery.pk, "operator": delivery.payload.get("operator"), "receiver": receiver_origin}
    if delivery.promotion is not None:
        targets["promotion"] = delivery.promotion.pk
    audit_record(action=action, actor=ACTOR, message=message, promotion=delivery.promotion,
                 stage=str(delivery.payload.get("stage", "")), targets=targets,
                 after={"status": delivery.status, "attempts": delivery.attempts,
                        "response_code": delivery.response_code})  # fmt: skip


@dataclass(frozen=True)
class _Change:
    branch: str
    before: str
    after: str
    paths: list[str]
    title: str


def _landed(promotion: Promotion) -> _Change:
    """The landed change as the operator sees it: the branch, the commit now at its head (the
    merge commit of a merged pull request), the one before it where the portal knows it (the base
    a commit was written on; not for a merge) and the files changed."""
    commit_mode = promotion.mode == Promotion.Mode.COMMIT
    after = promotion.merge_commit or (promotion.commit if commit_mode else "")
    before = promotion.base_commit if commit_mode and promotion.commit else ""
    items = promotion.items.all()
    paths = sorted({item.path for item in items if item.changed is not False})
    return _Change(promotion.branch, before, after, paths, promotion.title)


def _push_event(change: _Change, repository: RepositoryConfig | None) -> dict[str, Any]:
    """A GitHub `push` event with what Argo CD reads from one: `repository.html_url` (matched
    against Applications' repoURL whatever their scheme, with or without `.git`), `ref`,
    `default_branch` (for Applications tracking HEAD), `before`/`after` and the files in `commits`.
    `before` stays empty where the portal does not know it, so Argo CD moves no cached manifests
    across a range it cannot vouch for."""
    clone_url = _without_credentials(repository.url) if repository else ""
    commit = {"id": change.after, "message": change.title, "added": [], "modified": change.paths, "removed": []}
    return {
        "ref": f"refs/heads/{change.branch}",
        "before": change.before,
        "after": change.after,
        "repository": {"name": repository.name if repository else "", "html_url": _web_url(clone_url),
                       "clone_url": clone_url, "default_branch": repository.branch if repository else ""},
        "commits": [commit],
        "head_commit": commit,
        "pusher": {"name": "gitops-portal"},
    }  # fmt: skip


_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?!//)(?P<path>[^:]+)$")


def _web_url(url: str) -> str:
    """The repository's web URL, as GitHub's `html_url`: scp-like `git@host:org/repo.git`
    becomes `https://host/org/repo` (Argo CD cannot parse the scp form); no trailing `.git`."""
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        url = f"https://{scp['host']}/{scp['path']}"
    return url.removesuffix("/").removesuffix(".git")


def _without_credentials(url: str) -> str:
    """`url` without a user or password (`https://x:token@host/r` → `https://host/r`)."""
    parts = urllib.parse.urlsplit(url)
    if "://" not in url or "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _endpoint(target: OperatorReceiver) -> str:
    if target.operator.kind == "flux":
        return "URL of the Receiver's .status.webhookPath on notification-controller"
    return "URL of Argo CD's /api/webhook"


def _port(parts: urllib.parse.SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
