"""Argo CD Applications and ApplicationSets: each names an application's folder and value files
for one environment.

An Application's source path is analysed like any stage folder (kustomize, manifests), its
`helm.valueFiles` (relative to the path, or `$ref/…` from a `ref:` source) become layered files
under the chart's own values.yaml, and a chart from a Helm repository is versioned by its
`targetRevision` in the Application file itself. ApplicationSets are expanded: list, git
directory and git file generators, and `matrix` combinations of them; a list generator's order is
the pipeline's order. Other generators read what Git does not hold (clusters, pull requests) and
are named in the catalogue's closing notes.
"""

from __future__ import annotations

import fnmatch
import itertools
import posixpath
import re
from dataclasses import replace
from typing import Any

from promotions.catalogue.infer import kustomize
from promotions.catalogue.infer.evidence import (
    EXPLICIT,
    OPERATOR,
    Found,
    Unit,
    image_name,
    image_repository,
    listing,
    mapping,
    version,
    where,
)
from promotions.catalogue.infer.helm import TAG_KEYS, tag_key, values_env
from promotions.catalogue.infer.names import STRUCTURAL, stage_score
from promotions.catalogue.infer.tree import Tree

_EXPR = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
Params = dict[str, Any]


class Unrenderable(ValueError):
    """A template expression inference cannot evaluate."""


def argocd_units(tree: Tree, found: Found) -> None:
    """Units from every Application and ApplicationSet in the repository."""
    for path, obj in tree.with_kind("Application"):
        if str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
            name = str(mapping(obj.get("metadata")).get("name", "?"))
            application_units(tree, found, obj, label=f"Argo CD Application {name} ({path})", file=path)
    for path, obj in tree.with_kind("ApplicationSet"):
        if str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
            _application_set(tree, found, path, obj)


def application_units(tree: Tree, found: Found, app: dict[str, Any], *, label: str, file: str | None,
                      stage: str | None = None) -> None:  # fmt: skip
    """The units one Application gives (`file`: where it lives, when it is a file of its own, so a
    version it pins can be read from it)."""
    spec = mapping(app.get("spec"))
    single = mapping(spec.get("source"))
    sources = [single] if single else [mapping(s) for s in listing(spec.get("sources"))]
    refs = {str(s["ref"]): "" for s in sources if s.get("ref")}
    name = str(mapping(app.get("metadata")).get("name", ""))
    for index, source in enumerate(sources):
        at = "spec.source" if single else f"spec.sources[{index}]"
        _source_units(tree, found, source, refs, name=name, label=label, file=file, at=at, stage=stage)


def _source_units(tree: Tree, found: Found, source: dict[str, Any], refs: dict[str, str], *, name: str, label: str,
                  file: str | None, at: str, stage: str | None) -> None:  # fmt: skip
    folder = posixpath.normpath(str(source.get("path", "")).strip("/")) if source.get("path") else None
    helm = mapping(source.get("helm"))
    layers = _value_files(tree, folder, helm, refs)
    stage = stage or _stage(tree, found, folder, layers, name)
    if source.get("ref") and not folder:
        return
    if stage is None:
        found.note(f"{label}: no stage in its path, value files or name; say which stage it deploys")
        return
    app = _app(folder, name, stage, source)
    found.stages.setdefault(stage, label)
    if _override_unit(tree, found, source, folder, app=app, name=name, stage=stage, label=label, file=file, at=at):
        return
    if source.get("chart") and not folder:
        _chart_units(tree, found, source, layers, app=app, stage=stage, label=label, file=file, at=at)
    elif folder is not None and folder in tree.dirs:
        _folder_units(tree, found, folder, layers, helm, app=app, stage=stage, label=label, file=file, at=at)
    elif folder is not None:
        found.note(f"{label}: its path {folder}/ is not in this repository (another repository's?)")


def _override_unit(tree: Tree, found: Found, source: dict[str, Any], folder: str | None, *, app: str, name: str,
                   stage: str, label: str, file: str | None, at: str) -> bool:  # fmt: skip
    """A kustomize image override, which wins over the overlay's own `images:` when Argo CD builds it:
    in the Application (`kustomize.images`) or in the `.argocd-source-<name>.yaml` parameter file
    beside the overlay (where Argo CD Image Updater writes back)."""
    params = posixpath.join(folder, f".argocd-source-{name}.yaml") if folder else None
    candidates = [(file, listing(mapping(source.get("kustomize")).get("images")), f"{at}.kustomize.images")]
    if params in tree.paths:
        objs = tree.objects(params)
        candidates.append((params, listing(mapping(mapping(objs[0]).get("kustomize")).get("images")) if objs else [],
                           "kustomize.images"))  # fmt: skip
    for holder, images, key in reversed(candidates):
        names = [_override_name(str(entry)) for entry in images if entry]
        chosen = [n for n in names if image_name(n) == app] or (names if len(names) == 1 else [])
        if not names:
            continue
        if holder is None or not chosen:
            found.note(f"{label}: a kustomize image override ({', '.join(names)}) in {key} that inference cannot "
                       "tie to a file or to the application; say which image is its version")  # fmt: skip
            return True
        found.add(Unit(app, stage, (holder,), version("kustomize-image", image=chosen[0]),
                       f"{label}: kustomize image override of {chosen[0]} in {holder} ({key})", EXPLICIT))  # fmt: skip
        return True
    return False


def _override_name(value: str) -> str:
    """The image an override (`[name=]new-name[:tag][@digest]`) replaces."""
    old, sep, _new = value.partition("=")
    return old if sep else image_repository(value)


def _value_files(tree: Tree, folder: str | None, helm: dict[str, Any], refs: dict[str, str]) -> tuple[str, ...]:
    files = []
    if folder is not None and posixpath.join(folder, "values.yaml") in tree.paths:
        files.append(posixpath.join(folder, "values.yaml"))  # the chart's defaults, always under the rest
    for entry in listing(helm.get("valueFiles")):
        entry = str(entry)
        if entry.startswith("$"):
            ref, _, rest = entry[1:].partition("/")
            if ref not in refs:
                continue
            path = posixpath.normpath(rest)
        elif folder is not None:
            path = posixpath.normpath(posixpath.join(folder, entry))
        else:
            continue
        if path in tree.paths and path not in files:
            files.append(path)
    return tuple(files)


def _stage(tree: Tree, found: Found, folder: str | None, layers: tuple[str, ...], name: str) -> str | None:
    if folder:
        stage, _app = where(f"{folder}/x", found.stages)
        if stage:
            return stage
    for path in reversed(layers):
        env = values_env(path, found.stages) or where(path, found.stages)[0]
        if env:
            return env
    words = name.split("-")
    for size in range(len(words), 0, -1):  # `prod-eu` before `prod`
        for start in range(len(words) - size + 1):
            candidate = "-".join(words[start : start + size])
            if candidate != name and stage_score(candidate, None, found.stages) >= 2:
                return candidate
    return None


def _app(folder: str | None, name: str, stage: str, source: dict[str, Any]) -> str:
    if folder:
        _stage, app = where(f"{folder}/x", {stage: ""})
        if app and app != stage:
            return app
    stripped = name.replace(f"-{stage}", "").replace(f"{stage}-", "") if name != stage else name
    if stripped and stripped.lower() not in STRUCTURAL:
        return stripped
    return str(source.get("chart") or name)


def _chart_units(tree: Tree, found: Found, source: dict[str, Any], layers: tuple[str, ...], *, app: str, stage: str,
                 label: str, file: str | None, at: str) -> None:  # fmt: skip
    helm = mapping(source.get("helm"))
    pinned = _pinned(helm, at)
    key = next((k for path in reversed(layers) for d in tree.objects(path) if (k := tag_key(d, app))), None)
    if pinned and file:
        found.add(Unit(app, stage, (file,), version("yaml-path", path=pinned), f"{label}: {pinned}", EXPLICIT))
    elif key and layers:
        found.add(Unit(app, stage, layers, version("helm-values", key=key), f"{label}: value files, {key}", EXPLICIT))
    elif file:
        path = f"{at}.targetRevision"
        found.add(Unit(app, stage, (file,), version("yaml-path", path=path),
                       f"{label}: chart {source.get('chart')} version, {path}", EXPLICIT))  # fmt: skip
    else:
        found.note(f"{label}: the chart version of {app} is set by the ApplicationSet's template, not in a file")


def _pinned(helm: dict[str, Any], at: str) -> str | None:
    """The image tag the Application itself sets: `helm.parameters` or `helm.valuesObject`."""
    for param in listing(helm.get("parameters")):
        if isinstance(param, dict) and param.get("name") in TAG_KEYS:
            return f"{at}.helm.parameters[name={param['name']}].value"
    key = tag_key(mapping(helm.get("valuesObject")))
    return f"{at}.helm.valuesObject.{key}" if key else None


def _folder_units(tree: Tree, found: Found, folder: str, layers: tuple[str, ...], helm: dict[str, Any], *, app: str,
                  stage: str, label: str, file: str | None, at: str) -> None:  # fmt: skip
    pinned = _pinned(helm, at)
    if pinned and file:
        found.add(Unit(app, stage, (file,), version("yaml-path", path=pinned), f"{label}: {pinned}", EXPLICIT))
        return
    if posixpath.join(folder, "Chart.yaml") in tree.paths or helm:
        key = next((k for path in reversed(layers) for d in tree.objects(path) if (k := tag_key(d, app))), None)
        if key is None:
            found.note(f"{label}: no image tag key in its value files ({', '.join(layers) or 'none'})")
            return
        found.add(Unit(app, stage, layers, version("helm-values", key=key),
                       f"{label}: value files {', '.join(layers)}, {key}", EXPLICIT))  # fmt: skip
        return
    found.roots.setdefault(folder, stage)
    units = kustomize.folder_units(tree, folder, stage=stage, app=app, source=label, weight=OPERATOR)
    if not units:
        found.note(f"{label}: found no version in {folder}/ (no kustomize images, workload image or HelmRelease)")
    for unit in units:
        found.add(unit)


def _application_set(tree: Tree, found: Found, path: str, obj: dict[str, Any]) -> None:
    spec = mapping(obj.get("spec"))
    name = str(mapping(obj.get("metadata")).get("name", "?"))
    label = f"Argo CD ApplicationSet {name} ({path})"
    go = bool(spec.get("goTemplate"))
    try:
        sets = [p for g in listing(spec.get("generators")) for p in _generate(tree, mapping(g), go)]
    except Unrenderable as exc:
        found.note(f"{label}: {exc}")
        return
    ordered = _lists(listing(spec.get("generators")))
    template = mapping(spec.get("template"))
    listed: list[str] = []
    for params in sets:
        try:
            rendered = _render(template, params, go)
        except Unrenderable as exc:
            found.note(f"{label}: {exc}")
            return
        before = len(found.units)
        application_units(tree, found, rendered, label=label, file=None)
        for i, unit in enumerate(found.units[before:], before):
            found.units[i] = replace(unit, source=unit.source.replace(label, f"{label}, "
                                     f"{_generated_for(params, unit.stage)}", 1))  # fmt: skip
        listed += [u.stage for u in found.units[before:]]
    if ordered:
        found.listed += [s for s in dict.fromkeys(listed) if s not in found.listed]


def _lists(generators: list[Any]) -> bool:
    """Whether a list generator is among them (its element order is then the stages' order)."""
    for generator in generators:
        generator = mapping(generator)
        if "list" in generator:
            return True
        nested = mapping(generator.get("matrix")) or mapping(generator.get("merge"))
        if nested and _lists(listing(nested.get("generators"))):
            return True
    return False


def _generate(tree: Tree, generator: dict[str, Any], go: bool) -> list[Params]:
    if "list" in generator:
        return [e for e in listing(mapping(generator["list"]).get("elements")) if isinstance(e, dict)]
    if "git" in generator:
        git = mapping(generator["git"])
        prefix = str(git.get("pathParamPrefix") or "")
        if git.get("directories"):
            return [_path_params(d, go, prefix) for d in _directories(tree, listing(git["directories"]))]
        return [_file_params(tree, f, go, prefix) for entry in listing(git.get("files"))
                for f in sorted(tree.paths) if _match(str(mapping(entry).get("path", "")), f)]  # fmt: skip
    if "matrix" in generator:
        children = [_generate(tree, mapping(g), go) for g in listing(mapping(generator["matrix"]).get("generators"))]
        return [_merge(combo) for combo in itertools.product(*children)] if children else []
    kind = next(iter(generator), "empty")
    raise Unrenderable(f"a {kind} generator takes its parameters from outside Git; its applications are not inferred")


def _directories(tree: Tree, entries: list[Any]) -> list[str]:
    included = [str(e["path"]) for e in entries if isinstance(e, dict) and e.get("path") and not e.get("exclude")]
    excluded = [str(e["path"]) for e in entries if isinstance(e, dict) and e.get("path") and e.get("exclude")]
    return [d for d in sorted(tree.dirs) if any(_match(p, d) for p in included)
            and not any(_match(p, d) for p in excluded)]  # fmt: skip


def _match(pattern: str, path: str) -> bool:
    """Argo CD's path globs: `*` within one folder, `**` across folders."""
    if "**" in pattern:
        return fnmatch.fnmatchcase(path, pattern.replace("**/", "*").replace("**", "*"))
    parts, names = pattern.strip("/").split("/"), path.split("/")
    return len(parts) == len(names) and all(fnmatch.fnmatchcase(n, p) for p, n in zip(parts, names, strict=True))


def _path_params(folder: str, go: bool, prefix: str = "", filename: str = "") -> Params:
    """A git generator's path parameters (under `pathParamPrefix`, when it sets one)."""
    base = posixpath.basename(folder)
    path: Params = {"path": folder, "basename": base, "basenameNormalized": re.sub(r"[^a-zA-Z0-9-]", "-", base).lower(),
                    "segments": folder.split("/")}  # fmt: skip
    if filename:
        path |= {"filename": filename, "filenameNormalized": filename.lower()}
    if go:
        return {prefix: {"path": path}} if prefix else {"path": path}
    head = f"{prefix}.path" if prefix else "path"
    flat = {head: folder, **{f"{head}.{k}": v for k, v in path.items() if k not in ("path", "segments")}}
    return flat | {f"{head}[{i}]": s for i, s in enumerate(path["segments"])}


def _file_params(tree: Tree, path: str, go: bool, prefix: str) -> Params:
    docs = tree.documents.get(path) or []
    content = docs[0] if docs and isinstance(docs[0], dict) else {}
    params = _path_params(posixpath.dirname(path), go, prefix, posixpath.basename(path))
    return {**content, **params} if go else {**_flatten(content), **params}


def _flatten(values: dict[str, Any], prefix: str = "") -> Params:
    flat: Params = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _merge(combo: tuple[Params, ...]) -> Params:
    merged: Params = {}
    for params in combo:
        merged |= params
    return merged


def _render(value: Any, params: Params, go: bool) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, params, go) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, params, go) for v in value]
    if isinstance(value, str):
        return _EXPR.sub(lambda m: str(_lookup(m.group(1), params, go)), value)
    return value


def _lookup(expression: str, params: Params, go: bool) -> Any:
    if not go:
        if expression not in params:
            raise Unrenderable(f"the template uses {{{{{expression}}}}}, which no generator gives")
        return params[expression]
    words = expression.split()
    if len(words) == 3 and words[0] == "index" and words[2].isdigit():
        values = _lookup(words[1], params, go)
        return values[int(words[2])] if isinstance(values, list) and int(words[2]) < len(values) else ""
    if len(words) != 1 or not expression.startswith("."):
        raise Unrenderable(f"the template expression {{{{{expression}}}}} is more than a lookup; not evaluated")
    node: Any = params
    for key in expression[1:].split("."):
        if not isinstance(node, dict) or key not in node:
            raise Unrenderable(f"the template uses {{{{{expression}}}}}, which no generator gives")
        node = node[key]
    return node


def _generated_for(params: Params, stage: str) -> str:
    """Which generator parameter gave the stage (`env=staging`), to say where a unit came from."""
    flat = _flatten(params)
    key = next((k for k, v in flat.items() if v == stage and not k.startswith("path")), None)
    return f"generated for {key}={stage}" if key else f"generated for {stage}"
