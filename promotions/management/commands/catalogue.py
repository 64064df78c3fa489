"""`manage.py catalogue check [--config FILE] [--json]`: what the catalogue gets wrong.

Loads the catalogue, reads every repository as the matrix does, and lists each listed application
or discover pattern that matched no file in any stage (with the nearest existing path as a hint),
then the catalogue's warnings. Exit codes, for CI to gate on:

- 0: nothing to say;
- 1: at least one problem or warning (each on its own line, naming the catalogue's file and line);
- 2: the catalogue itself is broken (one line on stderr naming file and line), or a repository
  cannot be read (the other repositories' problems are still listed).
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from promotions.catalogue.loader import catalog_load
from promotions.catalogue.lookups import Catalog
from promotions.errors import ConfigError
from promotions.matrix.check import snapshot_problems
from promotions.matrix.refresh import RepositoryRead, matrix_read_git


class Command(BaseCommand):
    help = "Check the catalogue against its repositories: `catalogue check`."
    requires_system_checks: list[str] = []  # a read-only report, like `matrix`

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{check}")
        check = actions.add_parser(
            "check", help="list applications and discover patterns that match no file, and the warnings"
        )
        check.add_argument("--config", help="catalogue file (default: GITOPS_PORTAL_CONFIG)")
        check.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            catalog = catalog_load(options["config"] or settings.GITOPS_PORTAL_CONFIG)
        except ConfigError as exc:
            self.stderr.write(f"error: {exc}")
            sys.exit(2)
        reads = matrix_read_git(catalog=catalog, history=False)  # what the files say: no history needed
        snapshots = [read.snapshot for read in reads if read.snapshot]
        problems = [p for snapshot in snapshots for p in snapshot_problems(catalog=catalog, snapshot=snapshot)]
        warnings = [*catalog.warnings, *catalog.live_warnings(_names(reads))]
        errors = [read.error for read in reads if read.error]
        if options["json"]:
            self.stdout.write(json.dumps(_document(catalog, reads, problems, warnings)))
        else:
            self._report(catalog, reads, problems, warnings)
        for error in errors:
            self.stderr.write(f"error: {error}")
        if errors or problems or warnings:
            sys.exit(2 if errors else 1)

    def _report(self, catalog: Catalog, reads: list[RepositoryRead], problems: list[str], warnings: list[str]) -> None:
        for line in [*problems, *(f"warning: {w}" for w in warnings)]:
            self.stdout.write(line)
        count = len(problems) + len(warnings)
        if count:
            self.stdout.write(f"{catalog.path}: {count} problem{'s' * (count != 1)}")
            return
        apps = len(_names(reads))
        read = sum(1 for r in reads if r.snapshot)
        self.stdout.write(
            f"{catalog.path}: no problems ({apps} application{'s' * (apps != 1)} in {read} "
            f"repositor{'ies' if read != 1 else 'y'}; every item and discover pattern matched a file)"
        )


def _names(reads: list[RepositoryRead]) -> list[str]:
    return [name for read in reads if read.snapshot for name in read.snapshot.applications]


def _document(
    catalog: Catalog, reads: list[RepositoryRead], problems: list[str], warnings: list[str]
) -> dict[str, Any]:
    repositories = [
        {"name": r.name, "commit": r.snapshot.commit if r.snapshot else None, "error": r.error} for r in reads
    ]
    return {"catalogue": catalog.path, "repositories": repositories, "problems": problems, "warnings": warnings}
