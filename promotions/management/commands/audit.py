"""`manage.py audit verify` and `manage.py audit export [--format csv|json]`."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from promotions.audit import audit_verify
from promotions.selectors import audit_events, audit_export


class Command(BaseCommand):
    help = "Check the audit history's hash chain, or export it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        sub.add_parser("verify", help="recompute the hash chain; exit 1 at the first broken event")
        export = sub.add_parser("export", help="print every event")
        export.add_argument("--format", choices=["csv", "json"], default="json")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "verify":
            result = audit_verify()
            if result.intact:
                self.stdout.write(f"{result.count} events, chain intact")
                return
            assert result.broken is not None
            event = result.broken
            self.stderr.write(f"event #{event.pk} ({event.at:%Y-%m-%d %H:%M:%S} {event.action} by {event.actor}) "
                              f"breaks the chain: {result.problem}")  # fmt: skip
            sys.exit(1)
        self.stdout.write(audit_export(audit_events(), fmt=options["format"]), ending="")
