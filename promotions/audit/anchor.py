"""Anchors of the audit history outside the database.

The hash chain shows a changed row, but someone who can write the database can also
delete the last events, or change one and re-hash everything after it, and the chain
is whole again. So, periodically and on `audit verify --anchor`, the chain's head (event
id, hash, MAC, count) is recorded as a commit on a dedicated ref of a GitOps repository
(`GITOPS_PORTAL_AUDIT_ANCHOR_REF` of `GITOPS_PORTAL_AUDIT_ANCHOR_REPOSITORY`): commits
with the empty tree, each on top of the previous anchor, pushed fast-forward only.
`audit verify` reads them back from the remote and checks every anchored event is still
there, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db.models import Max

from promotions.audit.archive import ArchiveCheck, archived_hashes, audit_archives_check
from promotions.audit.chain import Verification, audit_verify
from promotions.catalogue.connect import git_repository
from promotions.catalogue.loader import catalog_get
from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import RepositoryConfig
from promotions.errors import PermanentError, PortalError
from promotions.gitops.repository import GitRepository, Person, PushRejected
from promotions.models import AuditArchive, AuditEvent

PUSH_ATTEMPTS = 5
_TRAILER = re.compile(r"^(Audit-[A-Za-z]+): (.*)$", re.MULTILINE)
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Anchor:
    """One recorded chain head: the event, its hash and MAC, how many events there were, when."""

    event_id: int
    hash: str
    mac: str  # "" when the event has none
    count: int
    at: datetime
    commit: str = ""  # the anchor commit, once written or read

    @property
    def when(self) -> str:
        return f"{self.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


@dataclass(frozen=True)
class AnchorCheck:
    """What `audit_anchors_check` found: the anchors read (oldest first) and the first one the
    database contradicts, or why the anchors could not be read."""

    where: str
    anchors: tuple[Anchor, ...] = ()
    problem: str = ""
    unreadable: str = ""


@dataclass(frozen=True)
class AuditReport:
    """`audit verify`: the chain and MACs, then the archive files (when there are archives), then
    the anchors (when all that is intact), then the anchor written (with `--anchor`). Exit code 0
    intact, 1 broken, 3 anchors unreadable."""

    chain: Verification
    anchors: AnchorCheck | None = None
    written: Anchor | None = None
    unwritten: str = ""  # why the head could not be anchored
    archives: ArchiveCheck | None = None

    @property
    def exit_code(self) -> int:
        if (
            not self.chain.intact
            or (self.archives and self.archives.problem)
            or (self.anchors and self.anchors.problem)
        ):
            return 1
        return 3 if self.anchors is None or self.anchors.unreadable or self.unwritten else 0


def audit_report(
    *, catalog_path: Path | str, anchor: bool = False, archives: bool = False, archive_dir: Path | None = None
) -> AuditReport:
    """Verify the chain and MACs, the archive files (with `archives`, or when there are archives),
    then the anchors; with `anchor`, anchor the head when all is well."""
    chain = audit_verify()
    if not chain.intact:
        return AuditReport(chain)
    stored = audit_archives_check(directory=archive_dir) if archives or AuditArchive.objects.exists() else None
    if stored and stored.problem:
        return AuditReport(chain, archives=stored)
    try:
        catalog = catalog_get(catalog_path)
    except PortalError as exc:
        where = settings.GITOPS_PORTAL_AUDIT_ANCHOR_REF
        return AuditReport(chain, AnchorCheck(where=where, unreadable=str(exc)), archives=stored)
    check = audit_anchors_check(catalog=catalog, archive_dir=archive_dir)
    if not anchor or check.problem or check.unreadable:
        return AuditReport(chain, check, archives=stored)
    try:
        return AuditReport(chain, check, audit_anchor_write(catalog=catalog), archives=stored)
    except PortalError as exc:
        return AuditReport(chain, check, unwritten=str(exc), archives=stored)


def audit_anchor_write(*, catalog: Catalog) -> Anchor | None:
    """Record the chain's head as a new anchor on the remote, on top of the newest one; None
    when there are no events. When the head is already anchored, that anchor is returned."""
    head = audit_head()
    if head is None:
        return None
    repo = anchor_repository(catalog)
    clone, ref = git_repository(repo), settings.GITOPS_PORTAL_AUDIT_ANCHOR_REF
    for _ in range(PUSH_ATTEMPTS):
        parent = clone.fetch_ref(ref)
        newest = anchors_read(clone, parent)[-1:] if parent else []
        if newest and (newest[0].event_id, newest[0].hash) == (head.event_id, head.hash):
            return newest[0]  # nothing happened since
        if problem := anchors_problem(tuple(newest), f"{ref} of {repo.name}"):
            raise PermanentError(f"not anchoring a history that contradicts its newest anchor: {problem}")
        commit = clone.write_empty_commit(parent=parent, message=anchor_message(head), committer=_portal())
        try:
            clone.push_ref(commit, ref)
        except PushRejected:
            continue  # another anchor landed first: stack on top of it
        return Anchor(head.event_id, head.hash, head.mac, head.count, head.at, commit)
    raise PushRejected(f"{ref}: moved on {PUSH_ATTEMPTS} times while anchoring event #{head.event_id}; try again")


def audit_anchors_check(*, catalog: Catalog, archive_dir: Path | None = None) -> AnchorCheck:
    """Read the anchors from the remote (the authority: whoever owns the database may own the
    local clone too) and check each against the database (or, for an event since archived, its
    archive file); the first contradiction is named."""
    where = ref = settings.GITOPS_PORTAL_AUDIT_ANCHOR_REF
    try:
        repo = anchor_repository(catalog)
        where = f"{ref} of {repo.name}"
        clone = git_repository(repo)
        sha = clone.fetch_ref(ref)
        anchors = tuple(anchors_read(clone, sha)) if sha else ()
    except PortalError as exc:
        return AnchorCheck(where, unreadable=str(exc))
    return AnchorCheck(where, anchors, problem=anchors_problem(anchors, where, archive_dir=archive_dir))


def audit_head() -> Anchor | None:
    """The chain's last event as an anchor to write (count: events up to and including it)."""
    last = AuditEvent.objects.order_by("-id").first()
    if last is None:
        return None
    count = AuditEvent.objects.filter(pk__lte=last.pk).count()
    return Anchor(last.pk, last.hash, last.mac, count, datetime.now(UTC).replace(microsecond=0))


def anchor_repository(catalog: Catalog) -> RepositoryConfig:
    """The catalogue repository that keeps the anchors: the one named in settings, or the first."""
    name = settings.GITOPS_PORTAL_AUDIT_ANCHOR_REPOSITORY
    for repo in catalog.repositories:
        if repo.name == name or not name:
            return repo
    names = ", ".join(r.name for r in catalog.repositories) or "none"
    raise PermanentError(f"GITOPS_PORTAL_AUDIT_ANCHOR_REPOSITORY: {name!r} is not in the catalogue (it has: {names})")


def anchor_message(anchor: Anchor) -> str:
    """The anchor commit's message: a subject, then the portal's trailer block."""
    return (
        f"Audit anchor: event #{anchor.event_id}\n\n"
        f"Audit-Event: {anchor.event_id}\n"
        f"Audit-Hash: {anchor.hash}\n"
        f"Audit-Mac: {anchor.mac or '-'}\n"
        f"Audit-Count: {anchor.count}\n"
        f"Audit-Time: {anchor.at.isoformat()}\n"
    )


def anchor_parse(commit: str, message: str) -> Anchor:
    """An anchor from its commit message; PermanentError when it is not one the portal wrote."""
    fields = dict(_TRAILER.findall(message))
    try:
        anchor = Anchor(
            event_id=int(fields["Audit-Event"]),
            hash=fields["Audit-Hash"],
            mac="" if fields["Audit-Mac"] == "-" else fields["Audit-Mac"],
            count=int(fields["Audit-Count"]),
            at=datetime.fromisoformat(fields["Audit-Time"]),
            commit=commit,
        )
    except (KeyError, ValueError):
        anchor = None
    if anchor is None or not _HEX64.fullmatch(anchor.hash) or not (anchor.mac == "" or _HEX64.fullmatch(anchor.mac)):
        raise PermanentError(f"anchor commit {commit[:12]} is not an audit anchor (its trailers are missing or wrong)")
    return anchor


def anchors_read(clone: GitRepository, ref: str) -> list[Anchor]:
    """Every anchor along the first parents of `ref` (a sha or ref), oldest first."""
    return [anchor_parse(sha, message) for sha, message in reversed(clone.log_messages(ref))]


def anchors_problem(anchors: tuple[Anchor, ...], where: str, *, archive_dir: Path | None = None) -> str:
    """The first anchor the database (or the archives) contradict (oldest first), in words; "" when none does."""
    stored = _events_by_id([anchor.event_id for anchor in anchors])
    if missing := [anchor.event_id for anchor in anchors if anchor.event_id not in stored]:
        stored |= archived_hashes(missing, directory=archive_dir)
    last_id = AuditEvent.objects.aggregate(last=Max("id"))["last"]
    matched: Anchor | None = None  # the newest anchor so far that matches
    for anchor in anchors:
        problem = _anchor_problem(anchor, stored.get(anchor.event_id), where, last_id, matched)
        if problem:
            return problem
        matched = anchor
    return ""


def _anchor_problem(
    anchor: Anchor, stored: tuple[str, str] | None, where: str, last_id: int | None, matched: Anchor | None
) -> str:
    event = f"event #{anchor.event_id}, anchored at {anchor.when} in {where},"
    if stored is None:
        now = f"the history now ends at #{last_id}" if last_id else "the history is now empty"
        return f"{event} is missing: events were deleted ({now})"
    stored_hash, stored_mac = stored
    if stored_hash != anchor.hash:
        earlier = f"an earlier event after #{matched.event_id}, the previous anchor," if matched else "an earlier event"
        return f"{event} has hash {stored_hash}, the anchor says {anchor.hash}: it or {earlier} was changed"
    if anchor.mac and stored_mac != anchor.mac:
        return f"{event} has MAC {stored_mac or 'none'}, the anchor says {anchor.mac}: its MAC was changed"
    return ""


def _events_by_id(ids: list[int]) -> dict[int, tuple[str, str]]:
    """(hash, MAC) of the events with these ids, in chunks (SQLite limits query parameters)."""
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(ids), 500):
        rows = AuditEvent.objects.filter(pk__in=ids[start : start + 500]).values_list("pk", "hash", "mac")
        found |= {pk: (chain_hash, mac) for pk, chain_hash, mac in rows}
    return found


def _portal() -> Person:
    return Person(settings.GITOPS_PORTAL_GIT_NAME, settings.GITOPS_PORTAL_GIT_EMAIL)
