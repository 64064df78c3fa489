"""`/metrics` for Prometheus: no session and no login; a bearer token when one is configured."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from promotions.monitoring.metrics import metrics_exposition


@csrf_exempt  # GET only: a POST gets 405, not the CSRF page
@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """The portal's state as Prometheus series, read from the database now (read-only, not audited)."""
    token = settings.GITOPS_PORTAL_METRICS_TOKEN
    if token and not bearer_matches(request, token):
        response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics_exposition(accept=request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)


def bearer_matches(request: HttpRequest, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>` (compared in constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
