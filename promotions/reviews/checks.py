"""CI checks on a promotion's pull request: a failing one holds auto-merge."""

from __future__ import annotations

from promotions.models import Promotion


def checks_failing(promotion: Promotion) -> list[str]:
    """Names of the promotion's failing checks (the pull request is blocked while any fail)."""
    promotion.checks = Promotion.objects.filter(pk=promotion.pk).values_list("checks", flat=True).first() or {}
    return list(promotion.failing_checks)
