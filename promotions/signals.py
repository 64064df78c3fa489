"""Authentication events go to the audit history."""

from __future__ import annotations

from typing import Any

from promotions.audit import audit_record


def login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]  # the password is never recorded
    audit_record(action="auth.login_failed", actor=username or "anonymous", message="wrong username or password",
                 targets={"ip": _ip(request)})  # fmt: skip


def logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.login", actor=user.get_username(), message="signed in", targets={"ip": _ip(request)})


def _ip(request: Any) -> str:
    return str(getattr(request, "META", {}).get("REMOTE_ADDR", "")) if request is not None else ""
