"""Links to the portal's own pages from outside it (pull-request bodies, notifications, chat, API
documents): absolute, on GITOPS_PORTAL_URL, the address people reach the portal at (`make run`
sets it from HOST and PORT; behind a proxy, the proxy's address)."""

from __future__ import annotations

from django.conf import settings


def portal_link(path: str) -> str:
    """`path` (starting with /) on the portal's public address."""
    return f"{settings.GITOPS_PORTAL_URL.rstrip('/')}{path}"


def promotion_link(pk: int) -> str:
    return portal_link(f"/promotions/{int(pk)}/")
