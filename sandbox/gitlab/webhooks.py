"""Webhook delivery, GitLab's way: the shared dispatcher (`sandbox.hosting.webhooks`) with GitLab's headers.

API handlers only enqueue (`emit`); one worker thread sends, in order, so a slow or dead
receiver never delays an API response. GitLab does not sign bodies: it sends the hook's
secret token as is, in `X-Gitlab-Token`. Each delivery gets a fresh `X-Gitlab-Event-UUID`
(its id here) and `X-Gitlab-Webhook-UUID`; a redelivery re-sends the very same body and
headers, so both stay the same.

Real GitLab differs in one way worth knowing: its `X-Gitlab-Event-UUID` comes from
recursion detection and is shared by every hook one request triggers (a merge's
"Merge Request Hook" and "Push Hook" carry the same one), so a receiver must not
deduplicate on it alone.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sandbox.hosting import webhooks
from sandbox.hosting.webhooks import Delivery, Webhook

EVENT_HEADERS = {
    "merge_request": "Merge Request Hook",
    "push": "Push Hook",
    "pipeline": "Pipeline Hook",
    "note": "Note Hook",
}
DEFAULT_EVENTS = tuple(EVENT_HEADERS)
USER_AGENT = "GitLab/17.0.0"

__all__ = ["DEFAULT_EVENTS", "EVENT_HEADERS", "Delivery", "Dispatcher", "Webhook"]


class Dispatcher(webhooks.Dispatcher):
    """Subscriptions by `object_kind` ("merge_request", "push", "pipeline", "note"; "*" for all)."""

    thread_name = "gitlab-standin-webhooks"

    def emit(self, event: str, payload: dict[str, Any], instance: str = "") -> None:
        """Queue `payload` (of `object_kind` `event`) for every subscription that wants it;
        `instance` is the server's URL, sent as `X-Gitlab-Instance`."""
        body = json.dumps(payload).encode()
        name = EVENT_HEADERS[event]
        action = (payload.get("object_attributes") or {}).get("action")
        with self._cond:
            hooks = [hook for hook in self._hooks if hook.wants(event)]
        for hook in hooks:
            event_uuid = str(uuid.uuid4())
            headers = _headers(hook, name, event_uuid, instance)
            self._enqueue(Delivery(event_uuid, hook.id, name, action, hook.url, payload, body, headers))


def _headers(hook: Webhook, name: str, event_uuid: str, instance: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Gitlab-Event": name,
        "X-Gitlab-Event-UUID": event_uuid,
        "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),
        "X-Gitlab-Instance": instance,
    }
    if hook.secret:
        headers["X-Gitlab-Token"] = hook.secret
    return headers
