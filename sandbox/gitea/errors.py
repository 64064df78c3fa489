"""Gitea's error bodies, raised by handlers and rendered per request.

Every Gitea API error is `{"message": …, "url": "<server>/api/swagger"}`; the 404 of
`ctx.NotFound()` also carries an `errors` list (null when empty). The messages are
Gitea's own (see the module docstrings that raise them), because client code keys on
status codes and shows the messages to people.
"""

from __future__ import annotations

from typing import Any

from sandbox.hosting.errors import HostError

NOT_FOUND = "The target couldn't be found."


class ApiError(HostError):
    """An error answer: HTTP status, Gitea's message, and any extra body fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.extra = extra

    def body(self, swagger_url: str) -> dict[str, Any]:
        """The JSON body, with the swagger URL of the server that answers."""
        return {"message": self.message, "url": swagger_url, **self.extra}


def not_found(*errors: str) -> ApiError:
    """Gitea's 404 for anything missing or invisible: a fixed message, the causes in `errors`."""
    return ApiError(404, NOT_FOUND, errors=list(errors) or None)


def binding_error(field: str, rule: str) -> ApiError:
    """422 from Gitea's request binding, e.g. `[Title]: Required` (first failing field only)."""
    return ApiError(422, f"[{field}]: {rule}")
