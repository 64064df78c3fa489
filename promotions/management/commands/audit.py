"""`manage.py audit verify [--anchor] [--config FILE]` and `manage.py audit export [--format csv|json]`.

`verify` exits 0 when the history is intact (chain, MACs, anchors), 1 at the first
broken, missing or altered event, 3 when the anchors cannot be read (or, with
`--anchor`, written).
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from promotions.audit.anchor import AuditReport, audit_report
from promotions.audit.export import audit_events, audit_export


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
        export = sub.add_parser("export", help="print every event")
        export.add_argument("--format", choices=["csv", "json"], default="json")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "export":
            self.stdout.write(audit_export(audit_events(), fmt=options["format"]), ending="")
            return
        report = audit_report(catalog_path=options["config"] or settings.GITOPS_PORTAL_CONFIG, anchor=options["anchor"])
        if report.exit_code == 0:
            self.stdout.write(_summary(report))
            if report.written:
                anchor = report.written
                self.stdout.write(f"event #{anchor.event_id} anchored at {anchor.when} (commit {anchor.commit[:12]})")
            return
        self.stderr.write(_failure(report))
        sys.exit(report.exit_code)


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
    assert check is not None
    if check.problem:
        return f"{chain.count} events, chain intact, but {check.problem}"
    if report.unwritten:
        return f"{_summary(report)}; but the head could not be anchored in {check.where}: {report.unwritten}"
    return f"{chain.count} events, chain intact, but the anchors in {check.where} cannot be read: {check.unreadable}"
