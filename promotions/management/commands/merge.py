"""`manage.py merge ID --as USER [--override-reason TEXT] [--json]`."""

from argparse import ArgumentParser
from typing import Any

from promotions.management.base import PromotionCommand
from promotions.models import Promotion
from promotions.reviews.merge import promotion_merge


class Command(PromotionCommand):
    help = "Merge an approved promotion's pull request."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("id", type=int)
        parser.add_argument("--as", dest="username", required=True)
        parser.add_argument("--override-reason", default="", help="admins only: merge during a freeze")
        parser.add_argument("--json", action="store_true")

    def run(self, options: dict[str, Any]) -> Promotion:
        catalog = self.catalog(options)
        return promotion_merge(promotion=self.promotion(options["id"]), actor=self.actor(options["username"], catalog),
                               override_reason=options["override_reason"])  # fmt: skip
