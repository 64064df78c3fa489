"""`manage.py promote APP [APP ...] --from STAGE --to STAGE [--version V] [--reason TEXT]
[--as USERNAME] [--override-reason TEXT] [--allow-downgrade] [--sync] [--json]`: request a promotion (a
release bundle when several applications are named), or carry it out here with --sync."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandParser

from promotions.errors import TransientError
from promotions.management.base import PromotionCommand
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request


class Command(PromotionCommand):
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
        parser.add_argument(
            "--override-reason", default="", help="admins only: promote during a freeze, or off the stage graph's edges"
        )
        parser.add_argument(
            "--allow-downgrade", action="store_true", help="install a version older than the target stage runs"
        )
        parser.add_argument(
            "--lift-pin-reason", default="", help="why promoting over a rollback's pin (required when one is pinned)"
        )
        parser.add_argument("--sync", action="store_true", help="carry it out in this process, not on a worker")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--config", help="catalogue file (default: GITOPS_PORTAL_CONFIG)")

    def run(self, options: dict[str, Any]) -> Promotion:
        catalog = self.catalog(options)
        user = self.user(options["username"])
        matrix_refresh(catalog=catalog)  # promote what Git has now, not an old snapshot
        promotion = promotion_request(
            catalog=catalog, applications=options["applications"], from_stage=options["from_stage"],
            to_stage=options["to_stage"], version=options["version"], reason=options["reason"], requested_by=user,
            actor=f"{options['username'] or 'cli'} (cli)", override_reason=options["override_reason"],
            allow_downgrade=options["allow_downgrade"], lift_pin_reason=options["lift_pin_reason"],
        )  # fmt: skip
        if options["sync"]:
            for _ in range(3):  # the same retries a worker would make, minus the waiting
                try:
                    return promotion_execute(promotion_id=promotion.pk)
                except TransientError:
                    continue
        return promotion
