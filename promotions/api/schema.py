"""What the OpenAPI schema says beyond the serializers: the error answers each operation can
give, and links (what a client can do next with the id an answer gives it).

drf-spectacular has no way to declare links, so a postprocessing hook adds them; clients read
them as documentation and schemathesis' stateful phase follows them (create a token, then revoke
it; request a promotion, then follow, approve, reject, merge or cancel it).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from promotions.api import serializers as s
from promotions.api.fields import CONTROL

WHEN = {
    400: "`invalid` (the fields at fault in `details`) or `refused` (well formed but cannot be done, or the "
         "catalogue is unusable: said in `message`)",
    401: "`unauthenticated`: no valid token (`Authorization: Bearer gp_…`) or session",
    403: "`forbidden`: your role, a freeze, or a session request without its CSRF token",
    404: "`not_found`: no such promotion, application, token or page",
    503: "`unavailable`: the database, Git or GitHub cannot be reached; try again. `not_read_yet`: a fresh "
         "server has not read a repository from Git yet (a worker is reading it); try again after `Retry-After` "
         "seconds",
}  # fmt: skip


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers an operation can give, for its schema (every one has the error shape)."""
    return {code: OpenApiResponse(s.Error, description=WHEN[code]) for code in sorted({*codes, 401, 503})}


READ = errors(400)  # reads the catalogue, which may be unusable
FOUND = errors(400, 404)  # and may find nothing: a name, a page past the last
WRITE = errors(400, 403, 404)
NAME = OpenApiParameter(
    "name", {"type": "string", "pattern": rf"^[^{CONTROL}/]+$".replace(r"\x", r"\u00")}, OpenApiParameter.PATH
)


PREFIX = "/api/v1"
PROMOTION = f"{PREFIX}/promotions/{{promotion_id}}"
ON_A_PROMOTION = {
    "GetPromotion": (PROMOTION, "get"),
    "ApprovePromotion": (f"{PROMOTION}/approve", "post"),
    "RejectPromotion": (f"{PROMOTION}/reject", "post"),
    "MergePromotion": (f"{PROMOTION}/merge", "post"),
    "CancelPromotion": (f"{PROMOTION}/cancel", "post"),
}
# (path, method, status) of an answer -> its links: name -> (path, method, parameters)
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    (f"{PREFIX}/tokens", "post", "201"): {
        "RevokeToken": (f"{PREFIX}/tokens/{{token_id}}", "delete", {"token_id": "$response.body#/id"})
    },
    **{
        producer: {name: (path, method, {"promotion_id": "$response.body#/id"}) for name, (path, method) in
                   ON_A_PROMOTION.items()}
        for producer in [(f"{PREFIX}/promotions", "post", "202"), (f"{PREFIX}/rollbacks", "post", "202"),
                         (f"{PREFIX}/releases", "post", "202"), (PROMOTION, "get", "200"),
                         *((path, "post", "200") for path, method in ON_A_PROMOTION.values() if method == "post")]
    },
}  # fmt: skip


def add_links(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the responses in LINKS get their `links`."""
    paths = result.get("paths", {})
    for (path, method, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue  # not in this (e.g. filtered) schema
        response["links"] = {
            name: {"operationId": paths[to_path][to_method]["operationId"], "parameters": parameters}
            for name, (to_path, to_method, parameters) in links.items()
            if to_method in paths.get(to_path, {})
        }
    return result
