"""Webhook subscriptions and delivery: POSTs from a background thread, recorded, redeliverable.

API handlers only enqueue (`emit`); one worker thread sends, in order, so a slow or dead
receiver never delays an API response. A redelivery re-sends the very same body and
headers, as the hosts' "Redeliver" buttons do. Each host subclasses `Dispatcher` for its
headers and signing (`headers()`) and, where it has them, its event names.
"""

from __future__ import annotations

import http.client
import itertools
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class Webhook:
    """A repository-wide subscription: `url`, `secret` (signing key or token), the events it wants ("*" = all)."""

    id: int
    url: str
    secret: str
    events: tuple[str, ...]

    def wants(self, event: str) -> bool:
        return "*" in self.events or event in self.events


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver an event; `status` is what the receiver answered (None: unreachable)."""

    id: str
    hook_id: int
    event: str
    action: str | None
    url: str
    payload: dict[str, Any]
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    redelivery: bool = False
    status: int | None = None
    error: str | None = None


class Dispatcher:
    """Holds the subscriptions, queues deliveries and sends them from one worker thread."""

    thread_name = "standin-webhooks"

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._cond = threading.Condition()
        self._hooks: list[Webhook] = []
        self._done: list[Delivery] = []
        self._pending = 0
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None

    def subscribe(self, url: str, secret: str, events: Iterable[str]) -> Webhook:
        """Add a subscription; returns it (its `id` is the host's hook id)."""
        with self._cond:
            hook = Webhook(next(self._ids), url, secret, tuple(events))
            self._hooks.append(hook)
            return hook

    def wants(self, event: str) -> bool:
        """Whether any subscription wants `event` (lets callers skip building a payload)."""
        with self._cond:
            return any(self.hook_wants(hook, event) for hook in self._hooks)

    def hook_wants(self, hook: Webhook, event: str) -> bool:
        """Whether `hook` subscribed to `event` (a host may map precise events to coarse ones)."""
        return hook.wants(event)

    def headers(self, hook: Webhook, event: str, delivery_id: str, body: bytes) -> dict[str, str]:
        """The host's headers for one delivery (event name, delivery id, signature)."""
        raise NotImplementedError

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        """Queue `payload` for every subscription that wants `event`."""
        body = json.dumps(payload).encode()
        with self._cond:
            hooks = [hook for hook in self._hooks if self.hook_wants(hook, event)]
        for hook in hooks:
            delivery_id = str(uuid.uuid4())
            headers = self.headers(hook, event, delivery_id, body)
            self._enqueue(
                Delivery(delivery_id, hook.id, event, payload.get("action"), hook.url, payload, body, headers)
            )

    def redeliver(self, delivery_id: str) -> None:
        """Send a recorded delivery again: same body, same headers (delivery id and signature included)."""
        with self._cond:
            found = next((d for d in self._done if d.id == delivery_id), None)
        if found is None:
            raise KeyError(f"no delivery {delivery_id}")
        self._enqueue(replace(found, redelivery=True, status=None, error=None))

    def deliveries(self) -> list[Delivery]:
        """Every attempted delivery so far, in the order they were sent."""
        with self._cond:
            return list(self._done)

    def wait(self, count: int | None = None, timeout: float = 5.0) -> list[Delivery]:
        """Block until the queue is drained (and at least `count` were attempted); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or (count is not None and len(self._done) < count):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._done)} deliveries attempted, {self._pending} still queued")
                self._cond.wait(left)
            return list(self._done)

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the worker after what is already queued (idempotent)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=self.timeout + 1)
            self._thread = None

    def _enqueue(self, delivery: Delivery) -> None:
        with self._cond:
            self._pending += 1
        self._queue.put(delivery)

    def _run(self) -> None:
        while (delivery := self._queue.get()) is not None:
            try:
                attempted = self._send(delivery)
            except Exception as error:  # a bad URL must not kill the worker and hang wait()
                attempted = replace(delivery, error=repr(error))
            with self._cond:
                self._done.append(attempted)
                self._pending -= 1
                self._cond.notify_all()

    def _send(self, delivery: Delivery) -> Delivery:
        # http.client, not urllib.request: urllib would re-case "X-GitHub-Event" as "X-github-event".
        url = urlsplit(delivery.url)
        connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(url.netloc, timeout=self.timeout)
        try:
            connection.request(
                "POST", urlunsplit(("", "", url.path or "/", url.query, "")), delivery.body, delivery.headers
            )
            response = connection.getresponse()
            response.read()
            return replace(delivery, status=response.status)
        except OSError as error:  # refused, timed out, unresolvable: the hosts record these as failed
            return replace(delivery, error=str(error))
        finally:
            connection.close()
