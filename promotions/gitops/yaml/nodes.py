"""Fast, line-aware reading of YAML: documents as libyaml-composed nodes, and paths into them.

Locators work on nodes rather than loaded Python values: composing in C is cheaper than
constructing objects, every node knows its line (for precise error cells and, later,
for splicing a new value into the original text), and scalars keep their exact text
(`1.10` stays `1.10`, never the float 1.1).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

NULL_TAG = "tag:yaml.org,2002:null"


class YAMLReadError(Exception):
    """The text is not valid YAML; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None) -> None:
        self.message = message
        self.line = line
        super().__init__(message)


def parse_documents(text: str | bytes) -> list[Node]:
    """Every non-empty document of a (possibly multi-document) YAML text, composed in C."""
    try:
        return [node for node in yaml.compose_all(text, Loader=_Loader) if node is not None]
    except yaml.MarkedYAMLError as exc:
        raise YAMLReadError(*describe_yaml_error(exc, text)) from None
    except yaml.YAMLError as exc:
        raise YAMLReadError(str(exc), None) from None


def describe_yaml_error(exc: yaml.MarkedYAMLError, text: str | bytes) -> tuple[str, int | None]:
    """A one-line message and the 1-based line of a YAML syntax error (never past the last line)."""
    raw = text.encode() if isinstance(text, str) else text
    last_line = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)

    def line(mark: yaml.Mark | None) -> int | None:
        return max(1, min(mark.line + 1, last_line)) if mark else None

    message = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem:
        where = f" started on line {line(exc.context_mark)}" if exc.context_mark else ""
        message = f"{exc.problem} ({exc.context}{where})"
    return message, line(exc.problem_mark or exc.context_mark)


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def scalar(node: Node | None) -> str | None:
    """The scalar's text, or None for anything else (null, mapping, list)."""
    if isinstance(node, ScalarNode) and node.tag != NULL_TAG:
        return node.value
    return None


def mapping_items(node: Node) -> Iterator[tuple[str, Node]]:
    """(key, value) pairs of a mapping, following YAML merge keys (`<<: *base`)."""
    if not isinstance(node, MappingNode):
        return
    merged: list[Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            merged.extend(value_node.value if isinstance(value_node, SequenceNode) else [value_node])
        elif isinstance(key_node, ScalarNode):
            yield key_node.value, value_node
    for base in merged:
        yield from mapping_items(base)


def get(node: Node | None, key: str) -> Node | None:
    if node is None:
        return None
    for name, value in mapping_items(node):
        if name == key:
            return value
    return None


def get_path(node: Node | None, *keys: str) -> Node | None:
    for key in keys:
        node = get(node, key)
    return node


def kind_of(node: Node) -> str | None:
    """A Kubernetes-style document's `kind`, if it has one."""
    return scalar(get(node, "kind"))


# -- paths: `spec.values.image.tag`, `images[name=web].newTag`, `containers[0]`, `["a.b"]` --


@dataclass(frozen=True)
class Step:
    key: str | None = None
    index: int | None = None
    match: tuple[str, str] | None = None

    def __str__(self) -> str:
        if self.key is not None:
            return self.key if _plain(self.key) else f'["{self.key}"]'
        if self.index is not None:
            return f"[{self.index}]"
        assert self.match is not None
        return f"[{self.match[0]}={self.match[1]}]"


def _plain(key: str) -> bool:
    return bool(key) and not any(c in key for c in '.[]"')


class PathSyntaxError(ValueError):
    pass


@functools.lru_cache(maxsize=4096)
def parse_path(text: str) -> tuple[Step, ...]:
    """Parse a dotted path with `[N]`, `[key=value]` and `["quoted.key"]` steps."""
    steps: list[Step] = []
    pos, n = 0, len(text)
    expect_key = True
    while pos < n:
        char = text[pos]
        if char == "[":
            end = text.find("]", pos)
            if end < 0:
                raise PathSyntaxError(f"unclosed '[' at position {pos + 1} in path {text!r}")
            steps.append(_bracket(text[pos + 1 : end], text))
            pos, expect_key = end + 1, False
        elif char == ".":
            if expect_key:
                raise PathSyntaxError(f"empty key at position {pos + 1} in path {text!r}")
            pos, expect_key = pos + 1, True
        else:
            if not expect_key:
                raise PathSyntaxError(f"expected '.' or '[' at position {pos + 1} in path {text!r}")
            end = min((i for i in (text.find(".", pos), text.find("[", pos)) if i >= 0), default=n)
            if "]" in text[pos:end]:
                raise PathSyntaxError(f"unexpected ']' in path {text!r}")
            steps.append(Step(key=text[pos:end]))
            pos, expect_key = end, False
    if not steps or expect_key:
        raise PathSyntaxError(f"path {text!r} is empty or ends with '.'")
    return tuple(steps)


def _bracket(inner: str, text: str) -> Step:
    if inner.isdigit():
        return Step(index=int(inner))
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "\"'":
        return Step(key=inner[1:-1])
    key, sep, value = inner.partition("=")
    if not sep or not key.strip():
        raise PathSyntaxError(f'[{inner}] in path {text!r}: expected [N], [key=value] or ["key"]')
    return Step(match=(key.strip(), value.strip().strip("\"'")))


def path_text(steps: tuple[Step, ...]) -> str:
    out = ""
    for step in steps:
        part = str(step)
        out += part if (not out or part.startswith("[")) else "." + part
    return out


class PathMiss(LookupError):
    """The path does not lead to a node; says where it stopped and why."""


def walk(node: Node, steps: tuple[Step, ...]) -> Node:
    for i, step in enumerate(steps):
        node = _step(node, step, steps[:i])
    return node


def _step(node: Node, step: Step, done: tuple[Step, ...]) -> Node:
    where = path_text(done) or "the document root"
    if step.key is not None:
        child = get(node, step.key) if isinstance(node, MappingNode) else None
        if child is None:
            raise PathMiss(f"no key '{step.key}' under {where}" + _found_keys(node))
        return child
    if not isinstance(node, SequenceNode):
        raise PathMiss(f"{where} is not a list")
    if step.index is not None:
        if step.index >= len(node.value):
            raise PathMiss(f"{where} has {len(node.value)} items, no [{step.index}]")
        return node.value[step.index]
    assert step.match is not None
    key, wanted = step.match
    for item in node.value:
        if scalar(get(item, key)) == wanted:
            return item
    present = sorted({v for item in node.value if (v := scalar(get(item, key))) is not None})
    found = f" (found: {', '.join(present)})" if present else ""
    raise PathMiss(f"no item with {key}={wanted} in {where}{found}")


def _found_keys(node: Node) -> str:
    if not isinstance(node, MappingNode):
        return " (not a mapping)"
    keys = [k for k, _ in mapping_items(node)]
    return f" (keys: {', '.join(keys[:8])}{', …' if len(keys) > 8 else ''})" if keys else " (empty mapping)"
