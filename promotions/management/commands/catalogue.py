"""`manage.py catalogue check|init`: what the catalogue gets wrong, and a catalogue written for you.

`catalogue init URL [--branch B] [--out FILE]` clones the repository and writes the catalogue it
infers (Argo CD, Flux, kustomize and Helm layouts), each item commented with where it came from;
`--check` compares an existing catalogue with it and lists the applications and stages the
repository has and the catalogue lacks (exit 1), for CI.

`catalogue check [--config FILE] [--json]`:

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
from promotions.management.init import catalogue_init
from promotions.matrix.check import snapshot_problems
from promotions.matrix.refresh import RepositoryRead, matrix_read_git


class Command(BaseCommand):
    help = "Check the catalogue against its repositories: `catalogue check`."
    requires_system_checks: list[str] = []  # a read-only report, like `matrix`

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{check,init}")
        check = actions.add_parser(
            "check", help="list applications and discover patterns that match no file, and the warnings"
        )
        check.add_argument("--config", help="catalogue file (default: GITOPS_PORTAL_CONFIG)")
        check.add_argument("--json", action="store_true", help="print one JSON document")
        init = actions.add_parser("init", help="write the catalogue inferred from a repository's layout")
        init.add_argument("url", help="the GitOps repository to read (https://…, ssh, file://…)")
        init.add_argument("--branch", default="main", help="branch to read (default: main)")
        init.add_argument("--out", help="write the catalogue here (default: standard output)")
        init.add_argument("--force", action="store_true", help="overwrite --out if it exists")
        init.add_argument(
            "--check", action="store_true", help="compare with the catalogue (--config): list what it lacks, exit 1"
        )
        init.add_argument("--config", help="with --check: the catalogue file (default: GITOPS_PORTAL_CONFIG)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "init":
            catalogue_init(self, options)
            return
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
