"""`manage.py approve ID --as USER [--comment TEXT] [--json]`."""

from argparse import ArgumentParser
from typing import Any

from promotions.management.base import PromotionCommand
from promotions.models import Promotion
from promotions.reviews.approvals import approval_submit


class Command(PromotionCommand):
    help = "Approve a promotion's pull request as USER."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("id", type=int)
        parser.add_argument("--as", dest="username", required=True)
        parser.add_argument("--comment", default="")
        parser.add_argument("--json", action="store_true")

    def run(self, options: dict[str, Any]) -> Promotion:
        catalog = self.catalog(options)
        promotion = self.promotion(options["id"])
        status = approval_submit(promotion=promotion, actor=self.actor(options["username"], catalog),
                                 comment=options["comment"], source="cli")  # fmt: skip
        if not options["json"]:
            self.stdout.write(f"approved: {status.summary}")
        return promotion
