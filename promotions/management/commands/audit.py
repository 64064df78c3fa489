"""`manage.py audit verify [--anchor] [--archives] [--dir DIR] [--config FILE]`,
`manage.py audit export [--format csv|json]` and
`manage.py audit archive [--older-than DAYS] [--dir DIR] [--dry-run] [--to-ref]`.

`verify` exits 0 when the history is intact (chain, MACs, archive files, anchors), 1 at the
first broken, missing or altered event or archive file, 3 when the anchors cannot be read (or,
with `--anchor`, written). `archive` moves the events older than DAYS (default:
GITOPS_PORTAL_AUDIT_RETENTION_DAYS) into a file (with `--to-ref`, then anchors the head);
without either it does nothing.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from promotions.audit.anchor import AuditReport, audit_anchor_write, audit_report
from promotions.audit.archive import ArchiveOutcome, audit_archive
from promotions.audit.chain import audit_context
from promotions.audit.export import audit_events, audit_export
from promotions.catalogue.loader import catalog_get
from promotions.errors import PortalError


class Command(BaseCommand):
    help = "Check the audit history (hash chain, MACs, anchors outside the database), or export it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        verify = sub.add_parser(
            "verify", help="recompute the chain, MACs and anchors; exit 1 at the first broken event, 3 if the "
            "anchors cannot be read"
        )  # fmt: skip
        verify.add_argument("--anchor", action="store_true", help="anchor the chain's head when it verifies")
        verify.add_argument("--config", help="catalogue file (default: GITOPS_PORTAL_CONFIG)")
        verify.add_argument("--archives", action="store_true", help="read the archive files back (default: when "
                            "events were archived)")  # fmt: skip
        verify.add_argument("--dir", type=Path, help="archive directory (default: GITOPS_PORTAL_AUDIT_ARCHIVE_DIR)")
        export = sub.add_parser("export", help="print every event")
        export.add_argument("--format", choices=["csv", "json"], default="json")
        archive = sub.add_parser("archive", help="move events older than DAYS into a gzip'd JSON-lines file")
        archive.add_argument("--older-than", type=int, metavar="DAYS",
                             help="default: GITOPS_PORTAL_AUDIT_RETENTION_DAYS (unset: archive nothing)")  # fmt: skip
        archive.add_argument("--dir", type=Path, help="archive directory (default: GITOPS_PORTAL_AUDIT_ARCHIVE_DIR)")
        archive.add_argument("--dry-run", action="store_true", help="say what would be archived, change nothing")
        archive.add_argument("--to-ref", action="store_true", help="then anchor the chain's head (which links to the "
                             "archive's) on GITOPS_PORTAL_AUDIT_ANCHOR_REF")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "export":
            self.stdout.write(audit_export(audit_events(), fmt=options["format"]), ending="")
            return
        if options["what"] == "archive":
            outcome = self._archive(options["older_than"], options["dir"], options["dry_run"])
            if options["to_ref"] and outcome and outcome.archive:
                self._anchor()
            return
        report = audit_report(catalog_path=options["config"] or settings.GITOPS_PORTAL_CONFIG, anchor=options["anchor"],
                              archives=options["archives"], archive_dir=options["dir"])  # fmt: skip
        if report.exit_code == 0:
            self.stdout.write(_summary(report))
            if report.written:
                anchor = report.written
                self.stdout.write(f"event #{anchor.event_id} anchored at {anchor.when} (commit {anchor.commit[:12]})")
            return
        self.stderr.write(_failure(report))
        sys.exit(report.exit_code)

    def _archive(self, days: int | None, directory: Path | None, dry_run: bool) -> ArchiveOutcome | None:
        days = days if days is not None else settings.GITOPS_PORTAL_AUDIT_RETENTION_DAYS
        if days is None:
            self.stdout.write("archiving is off: GITOPS_PORTAL_AUDIT_RETENTION_DAYS is not set and no --older-than")
            return None
        if days < 0:
            raise CommandError("--older-than: expected a number of days, at least 0")
        with audit_context(source="cli"):
            outcome = audit_archive(older_than=timedelta(days=days), actor="cli", directory=directory, dry_run=dry_run)
        self.stdout.write(_archived(outcome, dry_run))
        return outcome

    def _anchor(self) -> None:
        """The head now is `audit.archived`, which links to (and names) the archive's head."""
        try:
            anchor = audit_anchor_write(catalog=catalog_get(settings.GITOPS_PORTAL_CONFIG))
        except PortalError as exc:
            self.stderr.write(f"archived, but the chain's head could not be anchored: {exc}")
            sys.exit(3)
        if anchor is not None:
            self.stdout.write(f"event #{anchor.event_id} anchored at {anchor.when} (commit {anchor.commit[:12]})")


def _archived(outcome: ArchiveOutcome, dry_run: bool) -> str:
    cutoff = f"{outcome.cutoff:%Y-%m-%d %H:%M:%S} UTC"
    if not outcome.count:
        return f"nothing to archive: no event older than {cutoff}"
    events = f"{outcome.count} events (#{outcome.first_id}–#{outcome.last_id}, older than {cutoff})"
    if outcome.archive is None:
        return f"would archive {events} (dry run: nothing changed)"
    return f"archived {events} to {outcome.archive.file_name}, chain head {outcome.archive.last_hash}"


def _summary(report: AuditReport) -> str:
    chain, check = report.chain, report.anchors
    assert check is not None
    parts = [f"{chain.count} events, chain intact"]
    if not chain.macs_checked:
        parts.append("MACs not checked (AUDIT_HMAC_KEY is not set)")
    elif chain.without_mac:
        parts.append(f"MACs checked ({chain.without_mac} events from before the key have none)")
    else:
        parts.append("MACs checked")
    if report.archives and report.archives.archives:
        stored, n = report.archives, report.archives.archives
        parts.append(f"{n} archive{'s' if n > 1 else ''} intact ({stored.events} events) in {stored.where}")
    elif report.archives:
        parts.append(f"no archives in {report.archives.where}")
    if check.anchors:
        newest, n = check.anchors[-1], len(check.anchors)
        parts.append(f"{n} anchor{'s match' if n > 1 else ' matches'} (newest #{newest.event_id} at {newest.when}) "
                     f"in {check.where}")  # fmt: skip
    else:
        parts.append(f"no anchors yet in {check.where}")
    return "; ".join(parts)


def _failure(report: AuditReport) -> str:
    chain, check = report.chain, report.anchors
    if chain.broken is not None:
        event = chain.broken
        return (f"event #{event.pk} ({event.at:%Y-%m-%d %H:%M:%S} {event.action} by {event.actor}) "
                f"breaks the chain: {chain.problem}")  # fmt: skip
    if report.archives and report.archives.problem:
        return f"{chain.count} events, chain intact, but {report.archives.problem}"
    assert check is not None
    if check.problem:
        return f"{chain.count} events, chain intact, but {check.problem}"
    if report.unwritten:
        return f"{_summary(report)}; but the head could not be anchored in {check.where}: {report.unwritten}"
    return f"{chain.count} events, chain intact, but the anchors in {check.where} cannot be read: {check.unreadable}"
