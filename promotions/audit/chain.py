"""The audit history: who did what, from where, written in the same transaction as the
change it records, chained by hashes so that tampering shows.

With `AUDIT_HMAC_KEY` set, each event also carries a MAC of its hash: someone who can
write the database but does not have the key cannot re-hash the chain unnoticed.
Anchors of the chain outside the database are in `promotions.audit.anchor`.

The source (ui, api, chatops, webhook, ci, cli, system) and the request id come from the
context the work runs in (`audit_context`), set once by the middleware, a command or a
task, so services need not pass them around.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from promotions.models import AuditArchive, AuditEvent, Promotion

GENESIS = "0" * 64
_CHAIN_LOCK = 0x6175646974  # "audit": one writer extends the chain at a time (Postgres)


@dataclass(frozen=True)
class AuditContext:
    source: str = AuditEvent.Source.SYSTEM
    request_id: str = ""


_context: ContextVar[AuditContext] = ContextVar("audit_context", default=AuditContext())  # noqa: B039 - frozen


def current_context() -> AuditContext:
    return _context.get()


@contextmanager
def audit_context(*, source: str, request_id: str = "") -> Iterator[AuditContext]:
    """Everything recorded inside comes from `source` (and belongs to `request_id`)."""
    token = _context.set(AuditContext(source, request_id))
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def audit_record(
    *,
    action: str,
    actor: str,
    message: str = "",
    promotion: Promotion | None = None,
    applications: Iterable[str] = (),
    stage: str = "",
    targets: dict[str, Any] | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Append one event to the chain (inside the caller's transaction, if any)."""
    context = _context.get()
    apps = sorted(set(applications))
    if promotion is not None and not apps:  # what a promotion touches is what its events are about
        apps = sorted({item.application for item in promotion.items.all()})
        stage = stage or promotion.to_stage
    with transaction.atomic():
        chain_lock()
        previous = chain_head()
        event = AuditEvent(
            at=timezone.now(), actor=actor[:150], source=context.source, action=action, message=message,
            promotion=promotion, applications="," + ",".join(apps) + "," if apps else "", stage=stage,
            targets=targets or {}, before=before, after=after, request_id=context.request_id[:64], prev_hash=previous,
        )  # fmt: skip
        event.hash = event_hash(event)
        event.mac = event_mac(event.hash, settings.AUDIT_HMAC_KEY) if settings.AUDIT_HMAC_KEY else ""
        event.save()
    return event


def chain_lock() -> None:
    """Until the transaction ends, nobody else extends (or archives) the chain (Postgres; SQLite has
    one writer anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])


def chain_head() -> str:
    """The hash the next event links to: the last event's, else (everything archived) the newest
    archive's chain head, else the genesis."""
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    return last or archived_head()


def archived_head() -> str:
    """The hash the first event left in the table links to: the newest archive's chain head."""
    return AuditArchive.objects.order_by("-last_id").values_list("last_hash", flat=True).first() or GENESIS


def event_hash(event: AuditEvent) -> str:
    """The hash over an event's content and the previous event's hash."""
    content = {
        "prev": event.prev_hash,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "source": event.source,
        "action": event.action,
        "message": event.message,
        "promotion": event.promotion_id,
        "applications": event.applications,
        "stage": event.stage,
        "targets": event.targets,
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_mac(chain_hash: str, key: str) -> str:
    """HMAC-SHA256 of an event's hash with the audit key, hex: proves the key's holder wrote it."""
    return hmac.new(key.encode(), chain_hash.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verification:
    """The outcome of `audit_verify`: how many events were read, and the first that does not fit."""

    count: int
    broken: AuditEvent | None = None
    problem: str = ""
    macs_checked: bool = False  # AUDIT_HMAC_KEY was set
    without_mac: int = 0  # events from before the key was set (intact chains only)

    @property
    def intact(self) -> bool:
        return self.broken is None


def audit_verify() -> Verification:
    """Recompute the chain (and, with AUDIT_HMAC_KEY, each MAC) from the first event, which links
    to the newest archive's chain head when events were archived; the first event that does not
    fit is named. The archives themselves are checked by `promotions.audit.archive`."""
    key = settings.AUDIT_HMAC_KEY
    previous, count, without_mac = archived_head(), 0, 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        signed_before = count > without_mac  # an earlier event has a MAC
        count += 1
        problem = chain_problem(event, previous) or (_mac_problem(event, key, signed_before) if key else "")
        if problem:
            return Verification(count, event, problem, macs_checked=bool(key))
        without_mac += not event.mac
        previous = event.hash
    return Verification(count, macs_checked=bool(key), without_mac=without_mac)


def chain_problem(event: AuditEvent, previous: str) -> str:
    if event.prev_hash != previous:
        return "its link to the previous event does not match (an event was removed)"
    if event_hash(event) != event.hash:
        return "its content does not match its hash (it was changed)"
    return ""


def _mac_problem(event: AuditEvent, key: str, signed_before: bool) -> str:
    """Events without a MAC are accepted only before the first one with a MAC (older than the key)."""
    if not event.mac and signed_before:
        return "it has no MAC although an earlier event has one: it was added or re-hashed without the key"
    if event.mac and not hmac.compare_digest(event.mac, event_mac(event.hash, key)):
        return "its MAC does not match: it was changed or re-hashed without the key"
    return ""
