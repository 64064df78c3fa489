"""The base of every host's `ApiError`, so shared code can tell a host's refusal from a stand-in bug."""

from __future__ import annotations


class HostError(Exception):
    """An error answer with an HTTP `status`; each host's subclass carries its own body shape."""

    status: int
