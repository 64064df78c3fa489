"""GitHub's webhooks: its event names, `X-GitHub-*` headers and HMAC signatures.

Subscriptions, the delivery queue and redelivery are `sandbox.hosting.webhooks`'. A
redelivery re-sends the very same body under the same `X-GitHub-Delivery` id, as
GitHub's "Redeliver" button does.
"""

from __future__ import annotations

import hmac

from sandbox.hosting import webhooks
from sandbox.hosting.webhooks import Delivery, Webhook

DEFAULT_EVENTS = ("pull_request", "pull_request_review", "push", "issue_comment")
USER_AGENT = "GitHub-Hookshot/sandbox"

__all__ = ["DEFAULT_EVENTS", "Delivery", "Dispatcher", "Webhook", "signature"]


def signature(secret: str, body: bytes, digest: str = "sha256") -> str:
    """GitHub's `X-Hub-Signature-256` value: `sha256=<hex HMAC of the raw body>`."""
    return f"{digest}=" + hmac.new(secret.encode(), body, digest).hexdigest()


class Dispatcher(webhooks.Dispatcher):
    """Deliveries signed with `X-Hub-Signature(-256)`; a hook's `id` is GitHub's hook id."""

    thread_name = "github-standin-webhooks"

    def headers(self, hook: Webhook, event: str, delivery_id: str, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id,
            "X-GitHub-Hook-ID": str(hook.id),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
        }
        if hook.secret:
            headers["X-Hub-Signature"] = signature(hook.secret, body, "sha1")
            headers["X-Hub-Signature-256"] = signature(hook.secret, body)
        return headers
