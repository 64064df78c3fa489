"""Change one version in a YAML file and nothing else.

The version's scalar is located with the same locator that reads it (libyaml node
marks give its exact character span), the new value is rendered in the scalar's own
style, and spliced into the original text: comments, quotes, anchors, flow style,
indentation, CRLF line endings, other documents and other containers stay
byte-identical. The result is validated before anyone commits it.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import Node, ScalarNode

from promotions.errors import PermanentError
from promotions.gitops.yaml.locators import LocateError, Locator
from promotions.gitops.yaml.nodes import YAMLReadError, parse_documents

STR_TAG = "tag:yaml.org,2002:str"
_BOM = "\ufeff"


class EditError(PermanentError):
    """The file cannot be changed safely; the message names the file and the reason."""


@dataclass(frozen=True)
class Edit:
    """One file's version change: before and after text, and the versions."""

    path: str
    old_version: str
    new_version: str
    line: int
    before: bytes
    after: bytes
    mode: str = "100644"  # the file's git mode, kept as it was

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff, as `git diff` would show it."""
        old = self.before.decode("utf-8").splitlines(keepends=True)
        new = self.after.decode("utf-8").splitlines(keepends=True)
        return "".join(difflib.unified_diff(old, new, f"a/{self.path}", f"b/{self.path}"))


def version_set(content: bytes, *, path: str, locator: Locator, version: str, mode: str = "100644") -> Edit:
    """Set the version `locator` finds in `content` to `version`; raise EditError if unsafe."""
    text = _decode(content, path)
    bom = _BOM if text.startswith(_BOM) else ""
    body = text[len(bom) :]
    found = _locate(body, path, locator)
    node = found.node
    assert node is not None
    try:
        value = found.rewrite(version)
    except LocateError as exc:
        raise EditError(f"{path}:{found.line}: {exc.message}") from None
    start, end = node.start_mark.index, node.end_mark.index
    new_body = body[:start] + render_scalar(value, node, path) + body[end:]
    after = (bom + new_body).encode("utf-8")
    validate(after, path=path, locator=locator, version=version)
    return Edit(path, found.version, version, found.line, content, after, mode)


def render_scalar(value: str, node: ScalarNode, path: str) -> str:
    """`value` in the style of the scalar it replaces, quoted when YAML needs it."""
    style = node.style or ""
    if style in ("|", ">"):
        raise EditError(f"{path}:{node.start_mark.line + 1}: the version is a block scalar; edit it by hand")
    if style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    if style == "" and _plain_keeps_meaning(value, node.tag):
        return value
    return _double_quoted(value)


def _plain_keeps_meaning(value: str, original_tag: str) -> bool:
    """A plain scalar is safe if it parses back to the same text with a fitting type:
    a string (so `1.10` never becomes the float 1.1), or the same type the old value had."""
    try:
        node = yaml.compose(value, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return False
    if not isinstance(node, ScalarNode) or node.style or node.value != value or "\n" in value:
        return False
    return node.tag in (STR_TAG, original_tag)


def _double_quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def validate(content: bytes, *, path: str, locator: Locator, version: str) -> None:
    """The changed file parses, reads back the new version, and its Kubernetes objects are valid."""
    text = _decode(content, path).removeprefix(_BOM)
    found = _locate(text, path, locator)
    if found.version != version:
        raise EditError(f"{path}: after the change the version reads {found.version!r}, not {version!r}")
    for document in yaml.safe_load_all(text):
        _validate_kubernetes(document, path)


def _validate_kubernetes(document: Any, path: str) -> None:
    if not (isinstance(document, dict) and isinstance(document.get("apiVersion"), str) and "kind" in document):
        return
    import kubernetes_validate  # deferred: only promotions need schemas

    try:
        kubernetes_validate.validate(document, _kubernetes_version(), strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return  # not a built-in kind (a CRD such as HelmRelease, or a Kustomization)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "the object"
        name = (document.get("metadata") or {}).get("name", "?")
        raise EditError(f"{path}: {document['kind']} {name} is not valid: {where}: {exc.message}") from None


@functools.cache
def _kubernetes_version() -> str:
    import kubernetes_validate

    return str(kubernetes_validate.latest_version())  # lists a folder of schemas: once is enough


def _decode(content: bytes, path: str) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EditError(f"{path}: not UTF-8 text (byte {exc.start}); refusing to edit it") from None


def _locate(text: str, path: str, locator: Locator) -> Any:
    try:
        documents: list[Node] = parse_documents(text)
    except YAMLReadError as exc:
        where = f"{path}:{exc.line}" if exc.line else path
        raise EditError(f"{where}: the file is not valid YAML ({exc.message}); fix it before promoting") from None
    try:
        return locator.locate(documents)
    except LocateError as exc:
        where = f"{path}:{exc.line}" if exc.line else path
        raise EditError(f"{where}: {exc.message}") from None
