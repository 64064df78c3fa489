"""Load the catalogue file into a validated `Catalog`, with errors naming file and line."""

from __future__ import annotations

import hashlib
import os
import threading
import types
import typing
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import LOCATOR_KINDS, CatalogFile
from promotions.errors import ConfigError
from promotions.gitops.yaml.nodes import describe_yaml_error

Loc = tuple[str | int, ...]


def catalog_load(path: Path | str) -> Catalog:
    """Read, parse and validate the catalogue file at `path`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), None, "file not found (set GITOPS_PORTAL_CONFIG or --config)") from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc.strerror}") from None
    return catalog_parse(raw, path=str(path))


def catalog_parse(raw: bytes | str, *, path: str) -> Catalog:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    root = _compose(text, path)
    lines = _line_map(root, path)
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    try:
        model = CatalogFile.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _first_error(exc, lines, path) from None
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return Catalog.build(model, path=path, fingerprint=digest, lines=lines)


_lock = threading.Lock()
_cached: dict[str, tuple[tuple[int, int], Catalog]] = {}


def catalog_get(path: Path | str) -> Catalog:
    """The catalogue at `path`, re-read only when the file changed (cheap to call per request)."""
    key = str(path)
    try:
        st = os.stat(key)
    except OSError:
        return catalog_load(path)
    stamp = (st.st_mtime_ns, st.st_size)
    with _lock:
        hit = _cached.get(key)
    if hit and hit[0] == stamp:
        return hit[1]
    catalog = catalog_load(path)
    with _lock:
        _cached[key] = (stamp, catalog)
    return catalog


def _compose(text: str, path: str) -> MappingNode:
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        message, line = describe_yaml_error(exc, text)
        raise ConfigError(path, line, f"invalid YAML: {message}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, f"invalid YAML: {exc}") from None
    if root is None:
        raise ConfigError(path, None, "the file is empty; expected repositories, stages and applications")
    if not isinstance(root, MappingNode):
        raise ConfigError(path, root.start_mark.line + 1, "expected a mapping at the top level")
    return root


def _line_map(root: Node, path: str) -> dict[Loc, int]:
    """Line (1-based) of every key and list item, by its location; refuses duplicate keys."""
    lines: dict[Loc, int] = {(): 1}
    stack: list[tuple[Loc, Node]] = [((), root)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, MappingNode):
            for key_node, value in node.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else str(key_node)
                if (*loc, key) in lines:
                    where = _dotted((*loc, key))
                    raise ConfigError(path, key_node.start_mark.line + 1, f"{where}: duplicate key {key!r}")
                lines[(*loc, key)] = key_node.start_mark.line + 1
                stack.append(((*loc, key), value))
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*loc, i)] = item.start_mark.line + 1
                stack.append(((*loc, i), item))
    return lines


def _first_error(exc: pydantic.ValidationError, lines: dict[Loc, int], path: str) -> ConfigError:
    # A misspelt key usually explains the rest (e.g. a "missing" key): report it first.
    errors = exc.errors(include_url=False)
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc: Loc = tuple(error["loc"])
    # Tagged unions put the tag (e.g. 'yaml-path') into the location: keep only real keys.
    shown: Loc = ()
    for i, part in enumerate(loc):
        if (*shown, part) in lines or i == len(loc) - 1:
            shown = (*shown, part)
    known = max((shown[:i] for i in range(len(shown) + 1) if shown[:i] in lines), key=len)
    where = _dotted(shown) or "the top level"
    return ConfigError(path, lines[known], f"{where}: {_message(error, loc)}")


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: Any, loc: Loc) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        return f"unknown key {loc[-1]!r}{hint}"
    if kind == "union_tag_invalid":
        return f"unknown locator kind {ctx.get('tag')!r} (expected one of: {', '.join(LOCATOR_KINDS)})"
    if kind == "union_tag_not_found":
        return f"missing 'kind' (expected one of: {', '.join(LOCATOR_KINDS)})"
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys the schema accepts at `loc` (walks the models along the error's location)."""
    annotation: Any = CatalogFile
    for part in loc:
        annotation = _step_into(annotation, part)
        if annotation is None:
            return []
    model = _model_in(annotation)
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


def _step_into(annotation: Any, part: str | int) -> Any:
    model = _model_in(annotation, tag=part)
    if model is not None and isinstance(part, str):
        if part in LOCATOR_KINDS:
            return model
        field = model.model_fields.get(part)
        return field.annotation if field else None
    args = [a for a in typing.get_args(_strip(annotation)) if a is not type(None)]
    if isinstance(part, int) and args:
        return args[0]
    if isinstance(part, str) and len(args) == 2:  # dict[str, X]
        return args[1]
    return None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _model_in(annotation: Any, tag: str | int | None = None) -> type[BaseModel] | None:
    models = _models(annotation)
    for model in models:
        kind = model.model_fields.get("kind")
        if tag is not None and kind is not None and tag in typing.get_args(kind.annotation):
            return model
    return models[0] if len(models) == 1 else None


def _models(annotation: Any) -> list[type[BaseModel]]:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _models(a)]
    return []
