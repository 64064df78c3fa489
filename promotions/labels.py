"""Kubernetes label selectors: parsed once, matched in Python against listed objects.

Supports the set-based grammar the API server does: `a=b`, `a==b`, `a!=b`,
`a in (x,y)`, `a notin (x,y)`, `a` (exists) and `!a` (does not exist), joined by commas.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # in | notin | exists | !exists
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values


@dataclass(frozen=True)
class Selector:
    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(r.key for r in self.requirements)


@functools.lru_cache(maxsize=4096)
def parse_selector(text: str) -> Selector:
    """Parse a selector; SelectorError says which part is wrong."""
    return Selector(text, tuple(_requirement(part, text) for part in _split(text)))


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    if not text.strip() or any(not p.strip() for p in parts):
        raise SelectorError(f"empty requirement in label selector {text!r}")
    return parts


def _requirement(part: str, text: str) -> Requirement:
    if match := _SET.match(part):
        values = frozenset(v.strip() for v in match.group(4).split(",") if v.strip())
        return Requirement(match.group(1), match.group(3), values)
    if match := _EQ.match(part):
        op = "notin" if match.group(3) == "!=" else "in"
        return Requirement(match.group(1), op, frozenset({match.group(4)}))
    if match := _EXISTS.match(part):
        return Requirement(match.group(2), "!exists" if match.group(1) else "exists")
    raise SelectorError(f"cannot parse {part.strip()!r} in label selector {text!r}")
