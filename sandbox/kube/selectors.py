"""Label and field selectors, parsed and matched the way the API server does.

Label selectors: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, and the
numeric `a>1`, `a<1`; a comma is AND (commas inside parentheses belong to the set).
`!=` and `notin` also match objects without the label, as in Kubernetes.
Field selectors: `path=value`, `path==value`, `path!=value`, comma = AND, only over the
fields the resource supports (`metadata.name`, `metadata.namespace`, a few per kind).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.kube.errors import bad_request

KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"\s*(?P<key>{KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*")
_COMPARE = re.compile(rf"\s*(?P<key>{KEY})\s*(?P<op>==|=|!=|>|<)\s*(?P<value>\S*)\s*")
_EXISTS = re.compile(rf"\s*(?P<neg>!?)\s*(?P<key>{KEY})\s*")


@dataclass(frozen=True)
class Requirement:
    """One clause of a selector: `key op values` (values empty for exists / does-not-exist)."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "==", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        return present and _compare(self.op, value or "", self.values[0])


def _compare(op: str, value: str, bound: str) -> bool:
    try:
        return int(value) > int(bound) if op == ">" else int(value) < int(bound)
    except ValueError:
        return False


def split_clauses(text: str) -> list[str]:
    """Split on commas outside parentheses: `a in (x,y),b` -> [`a in (x,y)`, `b`]."""
    clauses, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            clauses.append(text[start:index])
            start = index + 1
    clauses.append(text[start:])
    return [clause for clause in clauses if clause.strip()]


def parse_labels(text: str | None) -> list[Requirement]:
    """Parse a `labelSelector`; a 400 `Status` for anything the API server would reject."""
    return [_requirement(clause) for clause in split_clauses(text or "")]


def _requirement(clause: str) -> Requirement:
    if match := _SET.fullmatch(clause):
        values = tuple(value.strip() for value in match["values"].split(","))
        _check_values(clause, values)
        return Requirement(match["key"], match["op"], values)
    if match := _COMPARE.fullmatch(clause):
        value = match["value"]
        _check_values(clause, (value,))
        if match["op"] in "<>" and not value.lstrip("-").isdigit():
            message = "for 'gt', 'lt' operators, the value must be an integer"
            raise bad_request(f"unable to parse requirement: {message}: {clause.strip()!r}")
        return Requirement(match["key"], match["op"], (value,))
    if match := _EXISTS.fullmatch(clause):
        return Requirement(match["key"], "!" if match["neg"] else "exists")
    raise bad_request(f"unable to parse requirement: invalid label selector {clause.strip()!r}")


def _check_values(clause: str, values: tuple[str, ...]) -> None:
    for value in values:
        if not re.fullmatch(VALUE, value) or len(value) > 63:
            raise bad_request(f"unable to parse requirement: invalid label value {value!r} in {clause.strip()!r}")


def labels_match(requirements: list[Requirement], obj: Mapping[str, Any]) -> bool:
    """Whether an object's `metadata.labels` satisfy every requirement."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(requirement.matches(labels) for requirement in requirements)


@dataclass(frozen=True)
class FieldRequirement:
    """`path op value` over a dotted field path such as `metadata.name`."""

    path: str
    op: str
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        actual = field_value(obj, self.path)
        return actual == self.value if self.op in ("=", "==") else actual != self.value


def parse_fields(text: str | None, supported: tuple[str, ...]) -> list[FieldRequirement]:
    """Parse a `fieldSelector` against the fields the resource supports (400 otherwise)."""
    requirements = []
    for clause in split_clauses(text or ""):
        match = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(\S*)\s*", clause)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{clause.strip()}'")
        path, op, value = match.groups()
        if path not in supported:
            raise bad_request(f"field label not supported: {path}")
        requirements.append(FieldRequirement(path, op, value))
    return requirements


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value at a dotted path ("" when absent, as the server's field sets do)."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def fields_match(requirements: list[FieldRequirement], obj: Mapping[str, Any]) -> bool:
    return all(requirement.matches(obj) for requirement in requirements)
