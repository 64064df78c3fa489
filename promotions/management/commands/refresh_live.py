"""`manage.py refresh_live [--json]`: read every stage's cluster now and print what runs.

The applications to look for come from the stored matrix: on a fresh server, where Git has never
been read, it reads Git first (waiting for another process that is reading it). Exit 2 when the
catalogue is broken or a repository cannot be read.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from promotions.catalogue.loader import catalog_load
from promotions.errors import ConfigError
from promotions.workflow.rollout import live_refresh
from promotions.workflow.store import NotReadYet, store_read


class Command(BaseCommand):
    help = "Read each stage's cluster (read-only) and store what runs there."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--config", help="catalogue file (default: GITOPS_PORTAL_CONFIG)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            catalog = catalog_load(options["config"] or settings.GITOPS_PORTAL_CONFIG)
        except ConfigError as exc:
            self.stderr.write(f"error: {exc}")
            raise SystemExit(2) from None
        for warning in catalog.warnings:
            self.stderr.write(f"warning: {warning}")
        try:
            store_read(catalog=catalog)
        except NotReadYet as exc:
            self.stderr.write(f"error: {exc}")
            raise SystemExit(2) from None
        report = live_refresh(catalog=catalog)
        if options["json"]:
            stages = [
                {"stage": r.stage, "calls": r.calls, "error": r.error or None,
                 "applications": [{"name": o.application, "namespace": o.namespace, "workload": o.workload or None,
                                   "version": o.version, "versions": o.versions, "health": o.health, "sync": o.sync,
                                   "ready": o.ready, "desired": o.desired, "reason": o.reason or None}
                                  for o in r.observed]}
                for r in report.stages
            ]  # fmt: skip
            self.stdout.write(json.dumps({"stages": stages}))
            return
        for read in report.stages:
            self.stdout.write(f"{read.stage}: {len(read.observed)} applications, {read.calls} list calls"
                              + (f" — {read.error}" if read.error else ""))  # fmt: skip
            for o in read.observed:
                runs = ", ".join(o.versions) or "-"
                line = f"  {o.application:24} {o.health:12} {o.sync:10} {runs}"
                self.stdout.write(line + (f"  ({o.reason})" if o.reason else ""))
