"""htmx requests: one place decides whether a view answers with a partial or the whole page."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def htmx_partial(request: HttpRequest) -> bool:
    """Whether to answer with a partial: an htmx request that is not a boosted navigation (those
    want the whole page). Every view asks this, and only this."""
    details: HtmxDetails | None = getattr(request, "htmx", None)
    return details is not None and bool(details) and not details.boosted
