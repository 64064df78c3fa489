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
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*(.*?)\s*$")  # the value is checked on its own: clearer errors
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")
_LABEL_VALUE = re.compile(rf"^{_VALUE}$")
LABEL_VALUE_MAX = 63
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAMESPACE_RULE = "at most 63 characters: lower-case letters, digits or '-', beginning and ending with one"
LABEL_VALUE_RULE = (
    f"at most {LABEL_VALUE_MAX} characters: letters, digits, '-', '_' or '.', "
    "beginning and ending with a letter or digit"
)


class SelectorError(ValueError):
    pass


def is_label_value(value: str) -> bool:
    """Whether Kubernetes accepts `value` as a label value (and so a selector can match it)."""
    return len(value) <= LABEL_VALUE_MAX and bool(_LABEL_VALUE.match(value))


def is_namespace_name(name: str) -> bool:
    """Whether `name` is a valid namespace name (an RFC 1123 label)."""
    return len(name) <= 63 and bool(_NAMESPACE.match(name))


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
        values = frozenset(_checked_value(v.strip(), text) for v in match.group(4).split(",") if v.strip())
        return Requirement(match.group(1), match.group(3), values)
    if match := _EQ.match(part):
        op = "notin" if match.group(3) == "!=" else "in"
        return Requirement(match.group(1), op, frozenset({_checked_value(match.group(4), text)}))
    if match := _EXISTS.match(part):
        return Requirement(match.group(2), "!exists" if match.group(1) else "exists")
    raise SelectorError(f"cannot parse {part.strip()!r} in label selector {text!r}")


def _checked_value(value: str, text: str) -> str:
    if not is_label_value(value):
        raise SelectorError(f"{value!r} in label selector {text!r} is not a label value ({LABEL_VALUE_RULE})")
    return value
