"""`manage.py reject ID --as USER --reason TEXT [--json]`."""

from argparse import ArgumentParser
from typing import Any

from promotions.management.base import PromotionCommand
from promotions.models import Promotion
from promotions.reviews.approvals import promotion_reject


class Command(PromotionCommand):
    help = "Reject a promotion (its pull request is closed with the reason)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("id", type=int)
        parser.add_argument("--as", dest="username", required=True)
        parser.add_argument("--reason", required=True)
        parser.add_argument("--json", action="store_true")

    def run(self, options: dict[str, Any]) -> Promotion:
        catalog = self.catalog(options)
        promotion = self.promotion(options["id"])
        promotion_reject(promotion=promotion, actor=self.actor(options["username"], catalog), reason=options["reason"],
                         source="cli")  # fmt: skip
        return promotion
