"""Errors the domain raises, classed by what the caller should do about them."""

from __future__ import annotations


class PortalError(Exception):
    """Base class: the message is written for a person and safe to show."""


class TransientError(PortalError):
    """Worth retrying later (network down, remote busy, lock held)."""


class PermanentError(PortalError):
    """Retrying will not help; a person has to change something."""


class ConfigError(PermanentError):
    """The catalogue file is unusable; names the file and, when known, the line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")
