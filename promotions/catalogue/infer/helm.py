"""Helm values per environment, and the version a Flux HelmRelease pins.

A chart folder (`Chart.yaml`, or a `values.yaml` beside per-environment files) with
`values-<env>.yaml`, `values.<env>.yaml`, `<env>-values.yaml`, `values/<env>.yaml` or
`<env>/values.yaml` layers the shared `values.yaml` under the stage's own file, as `helm -f
values.yaml -f values-prod.yaml` does; the version is the first image tag key found:
`image.tag`, `imageVersion`, `imageTag`, `tag`, or `<name>.image.tag` (an umbrella chart).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from promotions.catalogue.infer.evidence import FOLDER, Found, Unit, Version, mapping, version, where
from promotions.catalogue.infer.names import STRUCTURAL, stage_score

TAG_KEYS = ("image.tag", "imageVersion", "imageTag", "tag", "image.version")
_ENV_FILES = (re.compile(r"^values[-.](?P<env>[^/]+?)\.ya?ml$"), re.compile(r"^(?P<env>[^/]+?)[-.]values\.ya?ml$"))
SCALARS = (str, int, float)


def tag_key(values: dict[str, Any], app: str | None = None) -> str | None:
    """The dotted key of the image tag in Helm values, or None."""
    for key in TAG_KEYS:
        if isinstance(_get(values, key), SCALARS) and not isinstance(_get(values, key), bool):
            return key
    nested = [f"{name}.image.tag" for name, inner in values.items()
              if isinstance(inner, dict) and isinstance(_get(inner, "image.tag"), SCALARS)]  # fmt: skip
    preferred = [key for key in nested if app is not None and key == f"{app}.image.tag"]
    return (preferred or nested)[0] if len(preferred or nested) == 1 else None


def _get(values: dict[str, Any], key: str) -> Any:
    node: Any = values
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def release_version(release: dict[str, Any], name: str) -> Version | None:
    """Where a HelmRelease (or a patch of one) holds the version: an image tag in `spec.values`,
    else `spec.chart.spec.version`; None when it has neither."""
    spec = mapping(release.get("spec"))
    key = tag_key(mapping(spec.get("values")), name)
    if key is not None:
        return version("yaml-path", path=f"spec.values.{key}")
    if mapping(mapping(spec.get("chart")).get("spec")).get("version") is not None:
        return version("helmrelease-chart", name=name)
    return None


def values_env(path: str, known: dict[str, str]) -> str | None:
    """The stage a values file is for, by its name (`values-prod.yaml`, `values/prod.yaml`)."""
    folder, name = posixpath.split(path)
    candidates = [m["env"] for pattern in _ENV_FILES if (m := pattern.match(name))]
    if posixpath.basename(folder) == "values":
        candidates.append(name.rsplit(".", 1)[0])
    return next((env for env in candidates if stage_score(env, None, known) >= 1), None)


def chart_folder(tree_paths: frozenset[str], path: str) -> str:
    """The chart a values file belongs to: the nearest folder up with a Chart.yaml, else its own."""
    folder = posixpath.dirname(path)
    probe = folder
    while True:
        if posixpath.join(probe, "Chart.yaml") in tree_paths or (not probe and "Chart.yaml" in tree_paths):
            return probe
        if not probe:
            return posixpath.dirname(path) if posixpath.basename(folder) != "values" else posixpath.dirname(folder)
        probe = posixpath.dirname(probe)


def values_units(tree: Any, found: Found) -> None:
    """A unit for every per-environment values file that holds an image tag (itself or the
    shared values.yaml under it)."""
    for path in sorted(tree.documents):
        if not path.endswith((".yaml", ".yml")):
            continue
        stage, app = _stage_app(tree, path, found.stages)
        docs = tree.documents[path]
        if stage is None or len(docs) != 1 or not isinstance(docs[0], dict) or "kind" in docs[0]:
            continue
        chart = chart_folder(tree.paths, path)
        shared = posixpath.join(chart, "values.yaml") if chart else "values.yaml"
        layers = (shared, path) if shared != path and shared in tree.paths else (path,)
        key = tag_key(docs[0], app) or next((tag_key(d, app) for d in tree.objects(layers[0]) if len(layers) > 1), None)
        if app is None:
            continue
        if key is None:
            found.note(f"{path}: Helm values for {app} in {stage} without an image tag key "
                       f"(looked for {', '.join(TAG_KEYS)}, <name>.image.tag)")  # fmt: skip
            continue
        found.add(Unit(app, stage, layers, version("helm-values", key=key),
                       f"Helm values {' over '.join(reversed(layers))}: {key}", FOLDER))  # fmt: skip


def _stage_app(tree: Any, path: str, known: dict[str, str]) -> tuple[str | None, str | None]:
    chart = chart_folder(tree.paths, path)
    env = values_env(path, known)
    if env is None:
        if posixpath.basename(path) not in ("values.yaml", "values.yml"):
            return None, None
        env, app = where(path, known)
        if env is None or posixpath.join(posixpath.dirname(path), "Chart.yaml") in tree.paths:
            return None, None
        return env, app
    name = posixpath.basename(chart)
    if name and name.lower() not in STRUCTURAL:
        return env, name
    return env, where(path, known)[1] or _chart_name(tree, chart)


def _chart_name(tree: Any, chart: str) -> str | None:
    for obj in tree.objects(posixpath.join(chart, "Chart.yaml") if chart else "Chart.yaml"):
        if isinstance(obj.get("name"), str):
            return str(obj["name"])
    return None
