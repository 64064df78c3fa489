"""`manage.py rollback APP --stage STAGE [--to VERSION] [--as USER] [--reason TEXT] [--sync] [--json]`.
Default target: the version before the current one in that stage's history."""

from argparse import ArgumentParser
from typing import Any

from promotions.errors import TransientError
from promotions.management.base import PromotionCommand
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.rollback import promotion_rollback


class Command(PromotionCommand):
    help = "Roll an application in a stage back to an earlier version (through the stage's policy)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("application")
        parser.add_argument("--stage", required=True)
        parser.add_argument("--to", dest="version", help="default: the version before the current one")
        parser.add_argument("--as", dest="username")
        parser.add_argument("--reason", default="")
        parser.add_argument("--override-reason", default="", help="admins only: during a freeze")
        parser.add_argument("--sync", action="store_true", help="carry it out in this process")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--config")

    def run(self, options: dict[str, Any]) -> Promotion:
        catalog = self.catalog(options)
        user = self.user(options["username"])
        matrix_refresh(catalog=catalog)
        promotion = promotion_rollback(
            catalog=catalog, application=options["application"], stage=options["stage"], version=options["version"],
            requested_by=user, reason=options["reason"], actor=f"{options['username'] or 'cli'} (cli)",
            override_reason=options["override_reason"],
        )  # fmt: skip
        if options["sync"]:
            for _ in range(3):
                try:
                    return promotion_execute(promotion_id=promotion.pk)
                except TransientError:
                    continue
        return promotion
