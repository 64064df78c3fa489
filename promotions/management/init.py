"""`manage.py catalogue init`: parse the options, call the preview, write the file or the report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from promotions.catalogue.loader import catalog_load
from promotions.errors import PortalError
from promotions.matrix.preview import Preview, catalogue_preview
from promotions.matrix.refresh import matrix_read_git


def catalogue_init(command: BaseCommand, options: dict[str, Any]) -> None:
    out = Path(options["out"]) if options["out"] else None
    if out is not None and out.exists() and not options["force"] and not options["check"]:
        raise CommandError(f"{out} exists; choose another --out, or --force to overwrite it")
    try:
        preview = catalogue_preview(url=options["url"], branch=options["branch"])
        if options["check"]:
            _check(command, preview, str(options["config"] or settings.GITOPS_PORTAL_CONFIG))
            return
    except PortalError as exc:
        raise CommandError(str(exc)) from None
    inference = preview.inference
    left = len(inference.unresolved)
    summary = (
        f"{len(inference.apps)} application{'s' * (len(inference.apps) != 1)} in {len(inference.stages)} stage"
        f"{'s' * (len(inference.stages) != 1)} ({', '.join(inference.stages)}); "
        + (f"{left} not inferred, listed at the end" if left else "nothing left out")
    )
    if out is None:
        command.stdout.write(preview.text, ending="")
        command.stderr.write(summary)
        return
    out.write_text(preview.text, encoding="utf-8")
    command.stdout.write(f"wrote {out}: {summary}")


def _check(command: BaseCommand, preview: Preview, config: str) -> None:
    """What the repository has and the catalogue lacks: stages, then applications."""
    catalog = catalog_load(config)
    reads = matrix_read_git(catalog=catalog, history=False)
    listed = {name for read in reads if read.snapshot for name in read.snapshot.applications}
    stages = [s for s in preview.inference.stages if catalog.stage(s) is None]
    apps = [a for a in preview.inference.apps if a not in listed]
    for stage in stages:
        source = preview.inference.stage_sources.get(stage) or "folder and file names"
        command.stdout.write(f"{config}: stage {stage} is in the repository ({source}) but not in the catalogue")
    for app in apps:
        units = preview.inference.apps[app]
        first = next(iter(units.values()))
        command.stdout.write(
            f"{config}: application {app} is in the repository ({first.source}) but not in the catalogue"
        )
    if stages or apps:
        sys.exit(1)
    command.stdout.write(f"{config}: every application and stage the repository has is in the catalogue")
