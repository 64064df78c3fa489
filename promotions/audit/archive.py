"""Retention of the audit history: the oldest events move out of the table into files.

`audit_archive` takes a *prefix* of the chain (every event up to the last one older than the
cutoff: never a gap in the middle) and, in one transaction, writes it to
`audit-<first id>-<last id>.jsonl.gz` (one `audit_document` a line, with its prev_hash and MAC;
fsync'd and renamed into place before any row goes), records an `AuditArchive` (the hash
the prefix links to, its chain head, the file's sha256), deletes the rows, then records
`audit.archived`, which links to the last event left (or, when none is left, to the archive's
head). So the chain stays verifiable across archives: the first event in the table links to the
newest archive's head, and each archive's first event to the previous archive's head.

The rows are deleted along one narrow path, `_archived_rows_delete`: the ORM still refuses
every delete, and on Postgres the append-only trigger (migration 0016) lets a DELETE through
only in a transaction that set `gitops_portal.audit_archiving`, and only for rows an archive
record already covers. That setting is switched on for the one statement, then off again.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from promotions.audit.chain import GENESIS, archived_head, audit_record, chain_lock, chain_problem, event_mac
from promotions.audit.export import audit_document
from promotions.errors import PermanentError
from promotions.models import AuditArchive, AuditEvent

ARCHIVING = "gitops_portal.audit_archiving"  # the trigger's permission (migration 0016)


@dataclass(frozen=True)
class ArchiveOutcome:
    """What `audit_archive` archived (or, in a dry run, would archive): events #first_id to
    #last_id; `archive` is the record written (None in a dry run or when nothing is old enough)."""

    cutoff: datetime
    first_id: int = 0
    last_id: int = 0
    count: int = 0
    archive: AuditArchive | None = None


def archive_dir() -> Path:
    return Path(settings.GITOPS_PORTAL_AUDIT_ARCHIVE_DIR)


def audit_archive(
    *, older_than: timedelta, actor: str, directory: Path | None = None, dry_run: bool = False
) -> ArchiveOutcome:
    """Archive every event up to the last one older than `older_than` (see the module's docstring)."""
    directory = directory or archive_dir()
    with transaction.atomic():
        chain_lock()  # nobody extends the chain meanwhile
        outcome = _archive_plan(timezone.now() - older_than)
        if outcome.count == 0 or dry_run:
            return outcome
        archive = _archive_write(outcome, directory=directory, actor=actor)
        _archived_rows_delete(archive)
        audit_record(
            action="audit.archived", actor=actor, message=f"{archive.count} events archived to {archive.file_name}",
            after={"first_id": archive.first_id, "last_id": archive.last_id, "count": archive.count,
                   "last_hash": archive.last_hash, "sha256": archive.sha256},
        )  # fmt: skip
    return ArchiveOutcome(outcome.cutoff, archive.first_id, archive.last_id, archive.count, archive)


def _archive_plan(cutoff: datetime) -> ArchiveOutcome:
    last_id = AuditEvent.objects.filter(at__lt=cutoff).aggregate(last=Max("id"))["last"]
    if last_id is None:
        return ArchiveOutcome(cutoff)
    prefix = AuditEvent.objects.filter(pk__lte=last_id)
    first_id = prefix.order_by("id").values_list("id", flat=True).first()
    return ArchiveOutcome(cutoff, first_id or last_id, last_id, prefix.count())


def _archive_write(plan: ArchiveOutcome, *, directory: Path, actor: str) -> AuditArchive:
    """The prefix's file, safely on disk, then its record (the chain is checked while writing)."""
    name = f"audit-{plan.first_id}-{plan.last_id}.jsonl.gz"
    first_prev = previous = archived_head()
    count = 0
    events = AuditEvent.objects.filter(pk__lte=plan.last_id).order_by("id").iterator(chunk_size=2000)

    def lines() -> Iterator[dict[str, Any]]:
        nonlocal previous, count
        for event in events:
            if problem := chain_problem(event, previous):
                raise PermanentError(f"not archiving a broken chain: event #{event.pk}: {problem}")
            previous, count = event.hash, count + 1
            yield archive_line(event)

    sha256 = _file_write(directory, name, lines())
    return AuditArchive.objects.create(
        first_id=plan.first_id, last_id=plan.last_id, count=count, first_prev_hash=first_prev, last_hash=previous,
        file_name=name, sha256=sha256, created_at=timezone.now(), who=actor[:150],
    )  # fmt: skip


def archive_line(event: AuditEvent) -> dict[str, Any]:
    """One archived event: its `audit_document`, with what re-verifying it needs."""
    return audit_document(event) | {"prev_hash": event.prev_hash, "mac": event.mac}


def _file_write(directory: Path, name: str, lines: Iterable[dict[str, Any]]) -> str:
    """Write gzip'd JSON lines to a temp file, fsync it, rename it into place, fsync the directory:
    a crash leaves the whole file or none. Returns its sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
                for line in lines:
                    zipped.write(json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n")
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, directory / name)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    return _sha256(directory / name)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _archived_rows_delete(archive: AuditArchive) -> None:
    """The one path that deletes audit rows: raw SQL (the ORM refuses), only the rows this archive
    record covers, and on Postgres with the trigger's permission on for this statement alone."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute("SELECT set_config(%s, 'on', true)", [ARCHIVING])
        cursor.execute(f"DELETE FROM {table} WHERE id BETWEEN %s AND %s", [archive.first_id, archive.last_id])
        deleted = cursor.rowcount
        if postgres:
            cursor.execute("SELECT set_config(%s, 'off', true)", [ARCHIVING])
    if deleted != archive.count:  # raising rolls the transaction back: the rows stay
        raise PermanentError(
            f"archiving #{archive.first_id}–#{archive.last_id}: deleted {deleted} rows, expected {archive.count}"
        )


# Reading archives back -------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveCheck:
    """What `audit_archives_check` found: the archives (oldest first), the events in them, and the
    first archive that is missing, altered, truncated or does not link on, named with why."""

    where: Path
    archives: int = 0
    events: int = 0
    problem: str = ""


def audit_archives_check(*, directory: Path | None = None) -> ArchiveCheck:
    """Read every archive file back: its sha256, the hashes inside, and the links between archives
    (each one's first event links to the previous archive's head, the first to the genesis)."""
    directory = directory or archive_dir()
    previous, events = GENESIS, 0
    archives = list(AuditArchive.objects.order_by("first_id"))
    for archive in archives:
        problem = _archive_problem(archive, directory, previous)
        if problem:
            return ArchiveCheck(
                directory, len(archives), events, f"archive {archive.file_name} in {directory} {problem}"
            )
        previous, events = archive.last_hash, events + archive.count
    return ArchiveCheck(directory, len(archives), events)


def _archive_problem(archive: AuditArchive, directory: Path, previous: str) -> str:
    if archive.first_prev_hash != previous:
        return "does not link to the archive before it (its first event's prev_hash is not that archive's head)"
    path = directory / archive.file_name
    if not path.is_file():
        return "is missing"
    try:
        content = _content_problem(archive, archive_read(path))
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        return f"is truncated or unreadable ({exc})"
    if _sha256(path) != archive.sha256:
        return f"was altered: its sha256 does not match the archive record{'; ' + content if content else ''}"
    return content


def _content_problem(archive: AuditArchive, lines: Iterator[dict[str, Any]]) -> str:
    previous, count, expected_id = archive.first_prev_hash, 0, archive.first_id
    for line in lines:
        event = event_from_line(line)
        if event.pk < expected_id or event.pk > archive.last_id:
            return f"has event #{event.pk} out of order or out of its range #{archive.first_id}–#{archive.last_id}"
        if problem := chain_problem(event, previous) or _mac_problem(event):
            return f"has event #{event.pk} that breaks the chain: {problem}"
        previous, count, expected_id = event.hash, count + 1, event.pk + 1
    if count != archive.count or previous != archive.last_hash:
        return (f"holds {count} events ending in {previous[:12]}, "
                f"the record says {archive.count} ending in {archive.last_hash[:12]}")  # fmt: skip
    return ""


def _mac_problem(event: AuditEvent) -> str:
    key = settings.AUDIT_HMAC_KEY
    if key and event.mac and not hmac.compare_digest(event.mac, event_mac(event.hash, key)):
        return "its MAC does not match: it was changed or re-hashed without the key"
    return ""


def archive_read(path: Path) -> Iterator[dict[str, Any]]:
    """The lines of an archive file, decoded (ValueError on a line that is not a JSON object)."""
    with gzip.open(path, "rb") as file:
        for raw in file:
            line = json.loads(raw)
            if not isinstance(line, dict):
                raise ValueError("a line is not a JSON object")
            yield line


def event_from_line(line: dict[str, Any]) -> AuditEvent:
    """The (unsaved) event an archive line was written from, its hash as stored in the line."""
    apps = line["applications"]
    return AuditEvent(
        id=line["id"], at=datetime.fromisoformat(line["at"]), actor=line["actor"], source=line["source"],
        action=line["action"], message=line["message"], promotion_id=line["promotion"],
        applications="," + ",".join(apps) + "," if apps else "", stage=line["stage"], targets=line["targets"],
        before=line["before"], after=line["after"], request_id=line["request_id"], prev_hash=line["prev_hash"],
        hash=line["hash"], mac=line.get("mac", ""),
    )  # fmt: skip


def archived_hashes(ids: Iterable[int], *, directory: Path | None = None) -> dict[int, tuple[str, str]]:
    """(hash, MAC) of archived events with these ids, read from the archive files that cover them
    (for anchors of events since archived); an id whose file cannot be read is left out."""
    wanted, found = set(ids), dict[int, tuple[str, str]]()
    directory = directory or archive_dir()
    for archive in AuditArchive.objects.order_by("first_id"):
        if not any(archive.first_id <= i <= archive.last_id for i in wanted):
            continue
        try:
            lines = archive_read(directory / archive.file_name)
            found |= {line["id"]: (line["hash"], line.get("mac", "")) for line in lines if line["id"] in wanted}
        except (OSError, EOFError, zlib.error, ValueError, KeyError):
            continue
    return found
