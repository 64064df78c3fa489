"""`ReceiverStandIn`: the two endpoints a GitOps operator offers for "sync now", over real HTTP.

- **Flux** notification-controller's `Receiver` webhook: `POST /hook/<digest>`, the digest being
  sha256(token + name + namespace) as notification-controller computes `.status.webhookPath` (so the
  URL is a secret, as in a cluster). Without `flux_secret` the Receiver is of type `generic` (any
  POST to its path is accepted); with it, `generic-hmac`: `X-Signature: <sha1|sha256|sha512>=<hex
  HMAC of the raw body>` is required, and a missing or wrong one is answered 400 with no body, as
  notification-controller does (it answers 400 to any validation failure). Any other path under
  `/hook/` is 404.
- **Argo CD**'s API server webhook: `POST /api/webhook` with a GitHub event. Without
  `X-GitHub-Event`: 400 "Unknown webhook event"; events other than push and ping, an empty or
  non-JSON body: 400. With `argo_secret` (argocd-secret's `webhook.github.secret`),
  `X-Hub-Signature-256: sha256=<hex>` is required: 400 "Webhook processing failed: HMAC
  verification failed" (or "missing X-Hub-Signature-256 Header") otherwise. Accepted: 200, no body.

Interface (all of it):

    receivers = ReceiverStandIn(flux_secret="s3cret", argo_secret=None, on_hook=None).start()
    receivers.flux_url    # http://127.0.0.1:<port>/hook/<digest>
    receivers.argo_url    # http://127.0.0.1:<port>/api/webhook
    receivers.hits        # accepted calls, oldest first: Hit(kind, path, headers, body, raw, at)
    receivers.refusals    # refused calls: Refusal(kind, status, reason, at)
    receivers.fail_next(2, status=500, kind=None)   # the next 2 calls (to either, or to kind) answer 500
    receivers.on_hook = lambda kind, body: ...      # each accepted Flux call or Argo CD push, before the 200
    receivers.stop()      # or: with ReceiverStandIn(...) as receivers: ...

`kind` is "flux" or "argocd" (the catalogue's operator kinds); `headers` have lower-case names;
`body` is the parsed JSON (None when the body is not JSON: Flux accepts any). An injected fault
answers before any check and is listed in `refusals`. When `on_hook` raises, the call is
answered 500 and listed in `refusals` (notification-controller answers 500 when it cannot
annotate the objects to reconcile), so a demo can also simulate an operator that cannot act.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox import faultbook
from sandbox.httpserver import Handler, Server, Serving

FLUX_NAMESPACE = "flux-system"
FLUX_RECEIVER = "gitops-portal"
GENERIC_TOKEN = "generic-receiver-token"  # a `generic` Receiver still has a token: its path's digest
HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
ARGO_EVENTS = ("push", "ping")

OnHook = Callable[[str, Any], None]


@dataclass(frozen=True)
class Hit:
    """One accepted call."""

    kind: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    at: datetime


@dataclass(frozen=True)
class Refusal:
    """One call answered with an error, and why."""

    kind: str
    status: int
    reason: str
    at: datetime


@dataclass
class Fault:
    """Answer `status` to the next `times` calls to `kind` (None: either endpoint)."""

    kind: str | None
    status: int
    times: int | None = 1
    hits: int = 0
    id: int = 0

    def matches(self, kind: str) -> bool:
        return self.kind in (None, kind)


class ReceiverStandIn(Serving):
    """A Flux `Receiver` and Argo CD's `/api/webhook` on one HTTP server (see the module docstring)."""

    def __init__(
        self,
        *,
        flux_secret: str | None = None,
        argo_secret: str | None = None,
        on_hook: OnHook | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.flux_secret, self.argo_secret, self.on_hook = flux_secret, argo_secret, on_hook
        self.host, self.port = host, port
        token = flux_secret or GENERIC_TOKEN
        self.flux_path = "/hook/" + hashlib.sha256((token + FLUX_RECEIVER + FLUX_NAMESPACE).encode()).hexdigest()
        self._lock = threading.Lock()
        self._hits: list[Hit] = []
        self._refusals: list[Refusal] = []
        self._faults: faultbook.FaultBook[Fault] = faultbook.FaultBook()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ReceiverStandIn:
        """Serve in a background thread (on a free port unless one was given); idempotent."""
        if not self.serving:
            self._serve(_Server((self.host, self.port), self), "receivers-standin")
        return self

    def stop(self) -> None:
        """Stop serving; idempotent."""
        self._unserve()

    # -- what tests and the demo use -------------------------------------------------------

    @property
    def flux_url(self) -> str:
        return self.url + self.flux_path

    @property
    def argo_url(self) -> str:
        return self.url + "/api/webhook"

    @property
    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    @property
    def refusals(self) -> list[Refusal]:
        with self._lock:
            return list(self._refusals)

    def fail_next(self, n: int, status: int = 500, *, kind: str | None = None) -> Fault:
        """Answer `status` to the next `n` calls (to `kind` only, when given), before any check."""
        return self._faults.add(Fault(kind, status, times=n))

    # -- the HTTP side ---------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, str | None]:
        """The status and body (text, or None for none) answering one request."""
        route = path.split("?", 1)[0]
        if route.startswith("/hook/"):
            kind = "flux"
        elif route == "/api/webhook":
            kind = "argocd"
        else:
            return 404, "404 page not found\n"
        fault = self._faults.claim(kind)
        if fault is not None:
            return self._refuse(kind, fault.status, "injected fault", None)
        if kind == "flux":
            problem = self._flux_problem(method, route, headers, raw)
        else:
            problem = self._argo_problem(method, headers, raw)
        if problem is not None:
            status, reason, text = problem
            return self._refuse(kind, status, reason, text)
        body = _parsed(raw)
        if self.on_hook is not None and (kind == "flux" or headers.get("x-github-event") == "push"):
            try:
                self.on_hook(kind, body)
            except Exception as exc:  # the operator could not act on it
                return self._refuse(kind, 500, f"on_hook failed: {exc}", None)
        with self._lock:
            self._hits.append(Hit(kind, route, headers, body, raw, datetime.now(UTC)))
        return 200, None

    def _flux_problem(
        self, method: str, route: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, str, str | None] | None:
        if route != self.flux_path:
            return 404, "no Receiver has this webhook path", None
        if method != "POST":
            return 405, f"{method} is not POST", None
        if self.flux_secret is None:
            return None  # generic: no signature
        problem = _signature_problem(headers.get("x-signature", ""), raw, self.flux_secret, HASHES)
        if problem:
            return 400, f"unable to validate HMAC signature: {problem}", None
        return None

    def _argo_problem(self, method: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, str | None] | None:
        def failed(reason: str, status: int = 400) -> tuple[int, str, str]:
            return status, reason, f"Webhook processing failed: {reason}\n"

        event = headers.get("x-github-event", "")
        if not event:
            return 400, "no X-GitHub-Event", "Unknown webhook event\n"
        if method != "POST":
            return failed("invalid HTTP Method", 405)
        if event not in ARGO_EVENTS:
            return failed("event not defined to be parsed")
        if not raw:
            return failed("error parsing payload")
        if self.argo_secret:
            signature = headers.get("x-hub-signature-256", "")
            if not signature:
                return failed("missing X-Hub-Signature-256 Header")
            if _signature_problem(signature, raw, self.argo_secret, {"sha256": hashlib.sha256}):
                return failed("HMAC verification failed")
        if _parsed(raw) is None:
            return failed("error parsing payload")
        return None

    def _refuse(self, kind: str, status: int, reason: str, text: str | None) -> tuple[int, str | None]:
        with self._lock:
            self._refusals.append(Refusal(kind, status, reason, datetime.now(UTC)))
        return status, text


def _signature_problem(header: str, raw: bytes, secret: str, hashes: dict[str, Callable[..., Any]]) -> str:
    """Why `header` (`<hash>=<hex>`) does not sign `raw` with `secret` ('' when it does)."""
    if not header:
        return "missing signature"
    name, _, given = header.partition("=")
    if name not in hashes or not given:
        return f"unknown signature format {name!r}"
    expected = hmac.new(secret.encode(), raw, hashes[name]).hexdigest()
    return "" if hmac.compare_digest(given, expected) else "payload signature check failed"


def _parsed(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class _Handler(Handler):
    none_is_empty = True
    server: Server[ReceiverStandIn]

    def answer(self) -> None:
        raw = self.read_body()  # read even when refusing: keep-alive depends on it
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, text = self.server.api.handle(self.command, self.path, headers, raw)
        self.send_reply(status, {}, text)


class _Server(Server[ReceiverStandIn]):
    handler = _Handler
