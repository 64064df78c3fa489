"""GitHub's error bodies, raised by handlers and turned into responses by the server.

The shapes and messages are GitHub's own, because client code (PyGithub's exception
classes, our integration's error mapping) keys on them.
"""

from __future__ import annotations

from typing import Any

from sandbox.hosting.errors import HostError

DOCS = "https://docs.github.com/rest"


class ApiError(HostError):
    """An error answer: HTTP status plus a JSON body shaped like GitHub's."""

    def __init__(self, status: int, message: str, *, errors: list[Any] | None = None, docs: str = DOCS) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.body: dict[str, Any] = {"message": message}
        if errors is not None:
            self.body["errors"] = errors
        self.body["documentation_url"] = docs
        self.body["status"] = str(status)


def not_found() -> ApiError:
    """404 for anything the caller may not see or that does not exist."""
    return ApiError(404, "Not Found")


def validation_failed(*errors: dict[str, Any], docs: str = DOCS) -> ApiError:
    """422 "Validation Failed" with GitHub's list of error objects."""
    return ApiError(422, "Validation Failed", errors=list(errors), docs=docs)


def custom_error(resource: str, message: str) -> dict[str, Any]:
    """One `errors` entry with code "custom" (GitHub's free-text validation error)."""
    return {"resource": resource, "code": "custom", "message": message}


def invalid_field(resource: str, field: str) -> dict[str, Any]:
    """One `errors` entry for a field GitHub rejects with code "invalid"."""
    return {"resource": resource, "field": field, "code": "invalid"}


def missing_field(resource: str, field: str) -> dict[str, Any]:
    """One `errors` entry for a required field that was not sent."""
    return {"resource": resource, "field": field, "code": "missing_field"}


def unprocessable(message: str, docs: str = DOCS) -> ApiError:
    """422 "Unprocessable Entity" with plain-string errors (as GitHub answers for reviews)."""
    return ApiError(422, "Unprocessable Entity", errors=[message], docs=docs)
