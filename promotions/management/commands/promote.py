"""`manage.py promote APP [APP ...] --from STAGE --to STAGE [--version V] [--reason TEXT]
[--as USERNAME] [--sync] [--json]`: request a promotion (a release bundle when several
applications are named), or carry it out here with --sync."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser

from promotions.audit import audit_context
from promotions.config import catalog_load
from promotions.errors import PortalError, TransientError
from promotions.models import Promotion
from promotions.selectors import promotion_document
from promotions.services import matrix_refresh, promotion_request
from promotions.services.executor import promotion_execute


class Command(BaseCommand):
    help = "Promote applications from one stage to another (a direct commit or a pull request, per the stage)."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # Our --version is the version to promote; it replaces Django's --version.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("applications", nargs="+", metavar="APP")
        parser.add_argument("--from", dest="from_stage", required=True, metavar="STAGE")
        parser.add_argument("--to", dest="to_stage", required=True, metavar="STAGE")
        parser.add_argument("--version", help="default: the version in the --from stage")
        parser.add_argument("--reason", default="")
        parser.add_argument("--as", dest="username", help="the requesting user (default: none, the portal itself)")
        parser.add_argument("--sync", action="store_true", help="carry it out in this process, not on a worker")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--config", help="catalogue file (default: GITOPS_PORTAL_CONFIG)")

    def handle(self, *args: Any, **options: Any) -> None:
        with audit_context(source="cli"):
            self._handle(options)

    def _handle(self, options: dict[str, Any]) -> None:
        try:
            promotion = self._request(options)
            if options["sync"]:
                promotion = self._run(promotion)
        except PortalError as exc:
            self._fail(str(exc), options["json"])
        self._print(promotion, options["json"])
        if promotion.state == Promotion.State.FAILED:
            sys.exit(1)

    def _request(self, options: dict[str, Any]) -> Promotion:
        catalog = catalog_load(options["config"] or settings.GITOPS_PORTAL_CONFIG)
        user = None
        if options["username"]:
            user = User.objects.filter(username=options["username"]).first()
            if user is None:
                raise PortalError(f"no user named {options['username']!r}")
        matrix_refresh(catalog=catalog)  # promote what Git has now, not an old snapshot
        return promotion_request(
            catalog=catalog,
            applications=options["applications"],
            from_stage=options["from_stage"],
            to_stage=options["to_stage"],
            version=options["version"],
            reason=options["reason"],
            requested_by=user,
            actor=f"{options['username'] or 'cli'} (cli)",
        )

    def _run(self, promotion: Promotion) -> Promotion:
        for _ in range(3):  # the same retries a worker would make, minus the waiting
            try:
                return promotion_execute(promotion_id=promotion.pk)
            except TransientError:
                continue
        promotion.refresh_from_db()
        return promotion

    def _print(self, promotion: Promotion, as_json: bool) -> None:
        promotion.refresh_from_db()
        if as_json:
            self.stdout.write(json.dumps(promotion_document(promotion)))
            return
        self.stdout.write(f"promotion #{promotion.pk}: {promotion.title} — {promotion.state}")
        for line in filter(None, [promotion.pull_request_url, promotion.commit and f"commit {promotion.commit}",
                                  promotion.error]):  # fmt: skip
            self.stdout.write(f"  {line}")

    def _fail(self, message: str, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps({"id": None, "state": "refused", "error": message}))
        self.stderr.write(f"error: {message}")
        sys.exit(2)
