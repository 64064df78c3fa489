"""Health checks for load balancers and orchestrators (no login, no writes)."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. It asks nothing of the database, so a database outage takes
    the pods out of service (`readyz`) without restarting every one of them."""
    return HttpResponse("ok\n", content_type="text/plain")


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness (Kubernetes `readinessProbe`): 200 while the database answers one trivial query,
    else 503 with a short reason. The reason names the error's class only: the answer is public,
    and a driver's message can name hosts and users."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("not ready: the database does not answer: %s", exc)
        return JsonResponse({"ready": False, "reason": f"database unavailable ({type(exc).__name__})"}, status=503)
    return JsonResponse({"ready": True})


PROBES = {"/healthz": healthz, "/readyz": readyz}
