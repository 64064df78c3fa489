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
import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from promotions.errors import PermanentError
from promotions.gitops.yaml.locators import KustomizeImageLocator, LocateError, Locator, PathLocator
from promotions.gitops.yaml.nodes import YAMLReadError, line_of, parse_documents, parse_path

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


def version_set(
    content: bytes, *, path: str, locator: Locator, version: str, mode: str = "100644", inherited: str | None = None
) -> Edit:
    """Set the version `locator` finds in `content` to `version`; raise EditError if unsafe.

    `inherited` is the version the file gets from elsewhere (earlier layered files) when it does
    not set one itself: then the key is added to this file, with the smallest insertion."""
    text = _decode(content, path)
    bom = _BOM if text.startswith(_BOM) else ""
    body = text[len(bom) :]
    if inherited is not None and _misses(body, locator):
        if inherited == version:
            return Edit(path, inherited, version, 0, content, content, mode)
        new_body, line = version_add(body, path=path, locator=locator, version=version)
        after = (bom + new_body).encode("utf-8")
        validate(after, path=path, locator=locator, version=version, before=content)
        return Edit(path, inherited, version, line, content, after, mode)
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
    validate(after, path=path, locator=locator, version=version, before=content)
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


def validate(content: bytes, *, path: str, locator: Locator, version: str, before: bytes | None = None) -> None:
    """The changed file parses, reads back the new version, and the change breaks no Kubernetes
    object: with `before` (the file as it was), only schema errors the old content did not have
    refuse it, so a kustomize patch (a partial object by design) or a file with an old problem
    is never refused for what it already was."""
    text = _decode(content, path).removeprefix(_BOM)
    found = _locate(text, path, locator)
    if found.version != version:
        raise EditError(f"{path}: after the change the version reads {found.version!r}, not {version!r}")
    old = _old_documents(before)
    for index, document in enumerate(yaml.safe_load_all(text)):
        known = schema_errors(old[index]) if index < len(old) else set()
        new = sorted(schema_errors(document) - known)
        if new:
            name = (document.get("metadata") or {}).get("name", "?")
            raise EditError(f"{path}: {document['kind']} {name} is not valid: {new[0]}")


def _old_documents(before: bytes | None) -> list[Any]:
    if before is None:
        return []
    try:
        return list(yaml.safe_load_all(before.decode("utf-8").removeprefix(_BOM)))
    except (UnicodeDecodeError, yaml.YAMLError):
        return []  # the old file was unreadable: every error of the new one is its own


def schema_errors(document: Any) -> set[str]:
    """Every Kubernetes schema error of one document as "where: what" (none for anything that is
    not a built-in Kubernetes object: a CRD such as HelmRelease, a Kustomization, a JSON patch)."""
    if not (isinstance(document, dict) and isinstance(document.get("apiVersion"), str) and "kind" in document):
        return set()
    validator = _validator(str(document["kind"]), document["apiVersion"])
    if validator is None:
        return set()
    return {
        f"{'.'.join(str(p) for p in error.absolute_path) or 'the object'}: {error.message}"
        for error in validator.iter_errors(document)
    }


@functools.cache
def _validator(kind: str, api_version: str) -> Any:
    """The strict schema validator of one kind, built once (its schema files are large)."""
    import jsonschema  # deferred: only promotions need schemas
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    version = utils.latest_version()
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = utils.schema_contents(f"{folder}/{kind.lower()}-{api}.json", version)
    except FileNotFoundError:
        return None
    registry = Resource.from_contents(utils.schema_contents(f"{folder}/_definitions.json", version)) @ (
        Resource.from_contents(schema) @ Registry()
    )
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


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


# -- adding a missing key: the smallest insertion ---------------------------------------------


def _misses(text: str, locator: Locator) -> bool:
    """Whether the file parses but does not set the version (so it may be added)."""
    try:
        locator.locate(parse_documents(text))
    except YAMLReadError:
        return False
    except LocateError:
        return True
    return False


def version_found(content: bytes, locator: Locator) -> bool:
    """Whether the file sets the version itself (or cannot be read: then editing it says why)."""
    try:
        return not _misses(content.decode("utf-8").removeprefix(_BOM), locator)
    except UnicodeDecodeError:
        return True


def version_add(text: str, *, path: str, locator: Locator, version: str) -> tuple[str, int]:
    """`text` with the key path of a `helm-values`/`yaml-path` locator added, set to `version`:
    mappings created as needed at the file's own indentation, nothing else touched. Returns the
    new text and the 1-based line of the version."""
    if isinstance(locator, KustomizeImageLocator):
        return _image_add(text, path=path, image=locator.image, version=version)
    if not isinstance(locator, PathLocator):
        raise EditError(f"{path}: the file does not set {locator.describe()}; add it by hand")
    steps = parse_path(locator.path)
    if any(step.key is None for step in steps):
        raise EditError(f"{path}: the file does not set {locator.path}, a path through a list; add it by hand")
    keys = [str(step.key) for step in steps]
    docs = parse_documents(text)
    node, done = (docs[0], 0) if docs else (None, 0)
    while node is not None and done < len(keys) and (child := _own_key(node, keys[done])) is not None:
        node, done = child, done + 1
    if node is not None and not (isinstance(node, MappingNode) and not node.flow_style and node.value):
        where = ".".join(keys[:done]) or "the document"
        raise EditError(f"{path}:{line_of(node)}: {where} is not a block mapping, so {locator.path} cannot be added")
    indent, at = (node.value[0][0].start_mark.column, _after(text, node)) if node else (0, len(text))
    eol = "\r\n" if "\r\n" in text else "\n"
    step = _indent_step(docs[0]) if docs else 2
    lines = [f"{' ' * (indent + i * step)}{_scalar_text(key)}:" for i, key in enumerate(keys[done:])]
    lines[-1] += f" {_scalar_text(version)}"
    lead = eol if at == len(text) and text and not text.endswith("\n") else ""
    line = text.count("\n", 0, at) + len(lines) + (1 if lead else 0)
    return text[:at] + lead + eol.join(lines) + eol + text[at:], line


def _own_key(node: Node, key: str) -> Node | None:
    """A mapping's own value for `key` (never one merged in from an anchor: that is shared)."""
    if isinstance(node, MappingNode):
        for key_node, value in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == key:
                return value
    return None


def _after(text: str, node: Node) -> int:
    """The index just after the line where `node`'s content ends (where a sibling key goes)."""
    last = node
    while isinstance(last, MappingNode | SequenceNode) and last.value and not last.flow_style:
        last = last.value[-1][1] if isinstance(last, MappingNode) else last.value[-1]
    end = last.end_mark.index
    if end > 0 and text[end - 1] == "\n":  # a block scalar ends after its own newline
        return end
    newline = text.find("\n", end)
    return len(text) if newline < 0 else newline + 1


def _indent_step(node: Node) -> int:
    """How far the file indents a nested mapping (2 unless it shows otherwise)."""
    if isinstance(node, MappingNode) and not node.flow_style:
        for key, value in node.value:
            if isinstance(value, MappingNode) and not value.flow_style and value.value:
                return max(1, value.value[0][0].start_mark.column - key.start_mark.column)
    return 2


def _scalar_text(value: str) -> str:
    return value if _plain_keeps_meaning(value, STR_TAG) else _double_quoted(value)


def _image_add(text: str, *, path: str, image: str | None, version: str) -> tuple[str, int]:
    """The overlay's own `images:` entry, as `kustomize edit set image <image>=<image>:<tag>`
    adds it (the list created at the end when missing), indented like the file's other lists."""
    if not image:
        raise EditError(f"{path}: the file has no images entry to change; set version.image so one can be added")
    docs = parse_documents(text)
    root = docs[0] if docs else None
    if not (isinstance(root, MappingNode) and not root.flow_style and root.value):
        raise EditError(f"{path}: not a kustomization (a mapping of keys), so no images entry can be added")
    field = "digest" if version.startswith("sha256:") else "newTag"
    eol = "\r\n" if "\r\n" in text else "\n"
    images = _own_key(root, "images")
    if images is None:
        dash = " " * _list_offset(text, root) + "- "
        lines = ["images:", f"{dash}name: {_scalar_text(image)}", f"{' ' * len(dash)}{field}: {_scalar_text(version)}"]
        at = _after(text, root)
    elif isinstance(images, SequenceNode) and not images.flow_style and images.value:
        first = images.value[0]
        dash = text[text.rfind("\n", 0, first.start_mark.index) + 1 : first.start_mark.index]
        if dash.strip() != "-":
            raise EditError(f"{path}:{line_of(first)}: the images list is written in a way the portal cannot extend")
        lines = [f"{dash}name: {_scalar_text(image)}", f"{' ' * len(dash)}{field}: {_scalar_text(version)}"]
        at = _after(text, images)
    else:
        raise EditError(f"{path}:{line_of(images)}: images is not a block list, so an entry cannot be added to it")
    lead = eol if at == len(text) and not text.endswith("\n") else ""
    line = text.count("\n", 0, at) + len(lines) + (1 if lead else 0)
    return text[:at] + lead + eol.join(lines) + eol + text[at:], line


def _list_offset(text: str, root: MappingNode) -> int:
    """How far the file indents a list's dashes from its key (`resources:` then `- a` or `  - a`)."""
    for key, value in root.value:
        if isinstance(value, SequenceNode) and not value.flow_style and value.value:
            item = value.value[0].start_mark
            dash = text.rfind("-", 0, item.index)
            return max(0, dash - text.rfind("\n", 0, dash) - 1 - key.start_mark.column)
    return 0
