"""GitLab's error bodies, raised by handlers and turned into responses by the pipeline.

GitLab answers errors in two shapes, and clients (python-gitlab's `error_message`) read
both: `{"message": …}` from the application (a string, a list of strings, or a field →
messages object for validation failures) and `{"error": …}` from the parameter
validation layer (Grape) and the catch-all route.
"""

from __future__ import annotations

from typing import Any

from sandbox.hosting.errors import HostError


class ApiError(HostError):
    """An error answer: HTTP status plus GitLab's JSON body."""

    def __init__(self, status: int, message: Any, *, key: str = "message") -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.body: dict[str, Any] = {key: message}


def unauthorized() -> ApiError:
    """401: no token, an unknown token, or (merge) a user who may not accept the merge request."""
    return ApiError(401, "401 Unauthorized")


def forbidden() -> ApiError:
    """403: a known token without the rights the call needs."""
    return ApiError(403, "403 Forbidden")


def project_not_found() -> ApiError:
    """404 for a project id or path the token cannot see."""
    return ApiError(404, "404 Project Not Found")


def not_found(what: str | None = None) -> ApiError:
    """404 "Not found" (a record lookup that failed), or "404 <What> Not Found" for named resources."""
    return ApiError(404, f"404 {what} Not Found" if what else "404 Not found")


def missing(*names: str) -> ApiError:
    """400 from parameter validation: `{"error": "title is missing, body is missing"}`."""
    return ApiError(400, ", ".join(f"{name} is missing" for name in names), key="error")


def invalid(name: str) -> ApiError:
    """400 from parameter validation for a value outside the allowed set."""
    return ApiError(400, f"{name} does not have a valid value", key="error")


def validation_failed(field: str, *messages: str) -> ApiError:
    """400 from model validation: `{"message": {"source_branch": ["does not exist"]}}`."""
    return ApiError(400, {field: list(messages)})


def not_allowed() -> ApiError:
    """405, GitLab's answer to a merge it will not perform right now."""
    return ApiError(405, "405 Method Not Allowed")
