"""What every log line says about where it comes from: the request, the promotion, its
application(s) and stage, the task — bound for as long as the work lasts, in the web process and
in the worker alike, so `GITOPS_PORTAL_LOG_FORMAT=json` lines can be filtered by them.

Fields are only present on a line when known. In JSON lines every value is a string inside JSON,
so text that came from a user (an application name, a reason) can never forge a line of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

FIELDS = ("request_id", "promotion_id", "application", "stage", "task", "task_id")
_EMPTY: MappingProxyType[str, str] = MappingProxyType({})
_fields: ContextVar[MappingProxyType[str, str]] = ContextVar("log_fields", default=_EMPTY)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` (among FIELDS; None is left out) to every line logged inside."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log fields: {', '.join(sorted(unknown))}")
    merged = {**_fields.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _fields.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _fields.reset(token)


def log_bind(**fields: Any) -> Token[MappingProxyType[str, str]]:
    """`log_context` for work whose end is signalled elsewhere: undo with `log_unbind(token)`."""
    merged = {**_fields.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    return _fields.set(MappingProxyType(merged))


def log_unbind(token: Token[MappingProxyType[str, str]]) -> None:
    _fields.reset(token)


def log_fields() -> MappingProxyType[str, str]:
    return _fields.get()


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (the JSON formatter writes them as keys)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _fields.get().items():
            setattr(record, key, value)
        return True
