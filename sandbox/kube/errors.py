"""Kubernetes `Status` error bodies, with the API server's own wording, reasons and details.

Client code keys on `reason` and `code` (and people read `message`), so these follow
what kube-apiserver answers, e.g. the RBAC denial `deployments.apps "web" is forbidden:
User "…" cannot get resource "deployments" in API group "apps" in the namespace "shop"`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from sandbox.kube.resources import Resource

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class KubeError(Exception):
    """An error answer: the HTTP status and the `Status` body that goes with it."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.body = status_body(code, reason, message, details)


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `Status` object as the API server serialises it (`details` left out when empty)."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    body["message"] = message
    body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def default_body(code: int) -> dict[str, Any]:
    """The body an injected fault answers when none was given: the usual reason for `code`."""
    reason = REASONS.get(code, "Unknown")
    message = "Unauthorized" if code == 401 else HTTPStatus(code).phrase.lower()
    return status_body(code, reason, message, {} if code != 401 else None)


def _details(resource: Resource, name: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.plural
    return details


def unauthorized() -> KubeError:
    """401 for a missing, malformed or unknown bearer token."""
    return KubeError(401, "Unauthorized", "Unauthorized")


def forbidden(resource: Resource, verb: str, user: str, namespace: str | None, name: str | None = None) -> KubeError:
    """403 as the RBAC authorizer words it, namespaced or "at the cluster scope"."""
    subject = f'{resource.qualified} "{name}"' if name else resource.qualified
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource.plural}" '
        f'in API group "{resource.group}" {scope}'
    )
    return KubeError(403, "Forbidden", message, _details(resource, name))


def not_found(resource: Resource, name: str) -> KubeError:
    """404 for a named object that does not exist: `deployments.apps "web" not found`."""
    return KubeError(404, "NotFound", f'{resource.qualified} "{name}" not found', _details(resource, name))


def no_such_path() -> KubeError:
    """404 for a URL the server does not serve (unknown resource, group or cluster)."""
    return KubeError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> KubeError:
    """405: the stand-in is read-only over HTTP (the portal never writes to clusters)."""
    return KubeError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def bad_request(message: str) -> KubeError:
    """400 for a malformed selector, continue token or parameter."""
    return KubeError(400, "BadRequest", message)


def expired(message: str) -> KubeError:
    """410 for a continue token or watch resourceVersion older than the retained history."""
    return KubeError(410, "Expired", message)


def too_large_resource_version(wanted: int, current: int) -> KubeError:
    """504 for a list at a resourceVersion the server has not reached (after the real server's wait)."""
    cause = {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
    details = {"causes": [cause], "retryAfterSeconds": 1}
    return KubeError(504, "Timeout", f"Too large resource version: {wanted}, current: {current}", details)
