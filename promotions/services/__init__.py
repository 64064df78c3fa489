"""Writes: everything that changes what the portal stores or what Git holds goes through here."""

from promotions.services.matrix import RefreshReport, matrix_refresh
from promotions.services.promotion import (
    PromotionError,
    promotion_cancel,
    promotion_dispatch,
    promotion_preview,
    promotion_request,
)

__all__ = [
    "PromotionError",
    "RefreshReport",
    "matrix_refresh",
    "promotion_cancel",
    "promotion_dispatch",
    "promotion_preview",
    "promotion_request",
]
