"""`manage.py matrix [--config FILE] [--json] [--no-history]`: every application's version per stage, from Git.

Exit codes, for CI to gate on:

- 0: the matrix was read and every cell reads cleanly;
- 1: the matrix was read but at least one cell is an error (the table lists them under
  "Errors:", the JSON has them in each cell's `error`); `--allow-errors` exits 0 instead;
- 2: a one-line message on stderr for a broken catalogue or an unreachable repository.

Catalogue warnings (say, an application name no cluster can be searched for) go to stderr as
`warning: …` lines.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from promotions.catalogue.loader import catalog_load
from promotions.errors import ConfigError
from promotions.matrix.document import live_documents, matrix_document
from promotions.matrix.refresh import matrix_read_git


class Command(BaseCommand):
    help = "Print every application's version per stage folder, read from Git."
    requires_system_checks: list[str] = []  # a read-only report; `manage.py check` covers the rest

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--config", help="catalogue file (default: GITOPS_PORTAL_CONFIG)")
        parser.add_argument("--json", action="store_true", help="print the matrix as one JSON document")
        parser.add_argument(
            "--no-history",
            action="store_true",
            help="versions and errors; who changed each last and when may be null: on a first read of "
            "a repository with a long history, a shallow clone in seconds instead of the whole history",
        )
        parser.add_argument(
            "--allow-errors", action="store_true", help="exit 0 even when some cells are errors (exit 1 otherwise)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            catalog = catalog_load(options["config"] or settings.GITOPS_PORTAL_CONFIG)
        except ConfigError as exc:
            self._fail(str(exc))
        reads = matrix_read_git(catalog=catalog, history=not options["no_history"])
        failed = [read.error for read in reads if read.error]
        if failed:
            self._fail(failed[0])
        names = [cell.application for read in reads if read.snapshot for cell in read.snapshot.cells]
        for warning in [*catalog.warnings, *catalog.live_warnings(names)]:
            self.stderr.write(f"warning: {warning}")
        clustered = any(stage.cluster for stage in catalog.stages)
        document = matrix_document(catalog=catalog, reads=reads, live=self._live() if clustered else {})
        if options["json"]:
            # Indented for a person at a terminal; compact (and C-fast) for a pipe or a program.
            self.stdout.write(json.dumps(document, indent=2 if self.stdout.isatty() else None))
        else:
            self.stdout.write(render_table(document))
        if has_error_cells(document) and not options["allow_errors"]:
            sys.exit(1)

    @staticmethod
    def _live() -> dict[tuple[str, str], dict[str, Any]]:
        try:
            return live_documents()
        except DatabaseError:  # no database yet: Git alone still answers
            return {}

    def _fail(self, message: str) -> None:
        self.stderr.write(f"error: {message}")
        sys.exit(2)


def has_error_cells(document: dict[str, Any]) -> bool:
    """Whether any application's cell in any stage could not be read."""
    return any(cell.get("error") for app in document["applications"] for cell in app["stages"].values())


MARKS = {"behind": "*", "ahead": "^", "diverged": "~"}


def render_table(document: dict[str, Any]) -> str:
    """A plain-text table; `*` marks a version an upstream stage has a newer one of, `^` one newer
    than its upstream's, `~` one whose upstreams disagree."""
    stages = document["stages"]
    rows = [["APPLICATION", *(s.upper() for s in stages)]]
    problems = []
    for app in document["applications"]:
        row = [app["name"]]
        for stage in stages:
            cell = app["stages"].get(stage) or {}
            version = cell.get("version")
            if cell.get("error"):
                row.append("ERROR")
                problems.append(f"  {app['name']}/{stage}: {cell['error']}")
            elif version is None:
                row.append("-")
            else:
                row.append(version + MARKS.get(cell.get("relation") or "", ""))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(r, widths, strict=True)).rstrip() for r in rows]
    commits = ", ".join(f"{r['name']}@{(r['commit'] or '?')[:10]}" for r in document["repositories"])
    lines += [
        "",
        f"{len(document['applications'])} applications · {commits} · * behind its upstream, ^ ahead, ~ diverged",
    ]
    if problems:
        lines += ["", "Errors:", *problems]
    return "\n".join(lines)
