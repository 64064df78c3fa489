"""Gitea-signed webhook delivery, on the shared dispatcher (`sandbox.hosting.webhooks`: queue, worker, redeliver).

Headers follow `services/webhook/deliver.go`: `X-Gitea-Event` is the coarse event name,
`X-Gitea-Event-Type` the precise one (a review approval is event `pull_request_approved`,
type `pull_request_review_approved`), `X-Gitea-Signature` the bare hex HMAC-SHA256 of the
raw body (no "sha256=" prefix). Gitea repeats them as `X-Gogs-*` and `X-GitHub-*` and adds
`X-Hub-Signature(-256)`; Forgejo sends all of that plus an `X-Forgejo-*` family with the
same values. A redelivery re-sends the very same body and headers, delivery id included.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from sandbox.hosting.webhooks import Dispatcher, Webhook

# The event type (X-Gitea-Event-Type) → the event (X-Gitea-Event), from webhook_module.HookEventType.Event().
EVENTS = {
    "pull_request": "pull_request",
    "pull_request_sync": "pull_request",
    "pull_request_label": "pull_request",
    "pull_request_review_approved": "pull_request_approved",
    "pull_request_review_rejected": "pull_request_rejected",
    "pull_request_review_comment": "pull_request_comment",
    "pull_request_comment": "issue_comment",
    "push": "push",
    "status": "status",
}
DEFAULT_EVENTS = tuple(EVENTS)
USER_AGENT = "Go-http-client/1.1"  # Gitea's webhook client sets none of its own


def signature(secret: str, body: bytes) -> str:
    """`X-Gitea-Signature`: the hex HMAC-SHA256 of the raw body (empty when there is no secret)."""
    return hmac.new(secret.encode(), body, "sha256").hexdigest() if secret else ""


class GiteaDispatcher(Dispatcher):
    """The shared dispatcher with Gitea's (or Forgejo's) headers; hooks subscribe by event type or event."""

    thread_name = "gitea-standin-webhooks"

    def __init__(self, flavour: str = "gitea", timeout: float = 5.0) -> None:
        super().__init__(timeout)
        self.flavour = flavour

    def subscribe(self, url: str, secret: str, events: Iterable[str]) -> Webhook:
        """Add a subscription after checking its event names (event types, events, or "*")."""
        events = tuple(events)
        known = {*EVENTS, *EVENTS.values(), "*"}
        unknown = [event for event in events if event not in known]
        if unknown:
            raise ValueError(f"unknown webhook events {unknown}; known: {sorted(known)}")
        return super().subscribe(url, secret, events)

    def hook_wants(self, hook: Webhook, event: str) -> bool:
        """Whether `hook` wants the event type `event` (or its coarse event)."""
        return hook.wants(event) or hook.wants(EVENTS[event])

    def headers(self, hook: Webhook, event: str, delivery_id: str, body: bytes) -> dict[str, str]:
        return headers_for(self.flavour, hook.secret, event, delivery_id, body)


def headers_for(flavour: str, secret: str, event_type: str, delivery_id: str, body: bytes) -> dict[str, str]:
    """Every header Gitea (and, for "forgejo", Forgejo) puts on a delivery."""
    event, signed = EVENTS[event_type], signature(secret, body)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    families = ["Forgejo", "Gitea", "Gogs"] if flavour == "forgejo" else ["Gitea", "Gogs"]
    for family in families:
        headers[f"X-{family}-Delivery"] = delivery_id
        headers[f"X-{family}-Event"] = event
        headers[f"X-{family}-Event-Type"] = event_type
        headers[f"X-{family}-Signature"] = signed
    sha1 = hmac.new(secret.encode(), body, "sha1").hexdigest() if secret else ""
    headers["X-Hub-Signature"] = f"sha1={sha1}"
    headers["X-Hub-Signature-256"] = f"sha256={signed}"
    headers.update({"X-GitHub-Delivery": delivery_id, "X-GitHub-Event": event, "X-GitHub-Event-Type": event_type})
    return headers
