"""Kustomize overlays: which file of a stage folder holds each application's version.

A stage's kustomization wins with its own `images:` entry; else a patch of the stage (strategic
merge or JSON 6902) that sets the container's image; else the version is inherited from what the
kustomization builds on (bases' `images:` or a manifest's `image:`), which the matrix follows
from the stage's own kustomization — so a promotion writes the stage's file, never a shared base.
Flux HelmReleases built by an overlay are read from the stage's patch of the release when it
carries the version, else from the release itself.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from promotions.catalogue.infer.evidence import Unit, Version, image_name, image_repository, listing, mapping, version
from promotions.catalogue.infer.helm import release_version
from promotions.catalogue.infer.tree import Tree

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "Rollout", "ReplicaSet", "Pod")
REFERENCES = ("resources", "bases", "components")


@dataclass
class Build:
    """What a kustomization builds, followed through its bases (each folder once)."""

    images: dict[str, str] = field(default_factory=dict)  # images[].name -> the kustomization that sets it
    containers: list[tuple[str, str, str, str]] = field(default_factory=list)  # (file, workload, container, image)
    releases: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (file, HelmRelease)


def containers_of(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, image) of a workload's containers (a partial one, as in a patch, too)."""
    spec = mapping(obj.get("spec"))
    for step in (("template", "spec"), ("jobTemplate", "spec", "template", "spec")):
        pod = spec
        for key in step:
            pod = mapping(pod.get(key))
        if pod:
            break
    else:
        pod = spec if obj.get("kind") == "Pod" else {}
    return [(str(c.get("name", "")), str(c["image"])) for c in listing(pod.get("containers"))
            if isinstance(c, dict) and isinstance(c.get("image"), str)]  # fmt: skip


def build(tree: Tree, folder: str, seen: set[str] | None = None) -> Build:
    """Follow a folder's kustomization (or, without one, its YAML files) through its references."""
    seen = seen if seen is not None else set()
    result = Build()
    if folder in seen:
        return result
    seen.add(folder)
    kustomization = tree.kustomization(folder)
    if kustomization is None:
        for path in tree.files_in(folder):
            _manifest(tree, path, result)
        return result
    for obj in tree.objects(kustomization)[:1]:
        for entry in listing(obj.get("images")):
            if isinstance(entry, dict) and entry.get("name"):
                result.images.setdefault(str(entry["name"]), kustomization)
        for ref in _references(obj):
            target = posixpath.normpath(posixpath.join(folder, ref))
            if target in tree.dirs:
                inner = build(tree, target, seen)
                for name, where in inner.images.items():
                    result.images.setdefault(name, where)
                result.containers += inner.containers
                result.releases += inner.releases
            elif target in tree.paths:
                _manifest(tree, target, result)
    return result


def _references(obj: dict[str, Any]) -> list[str]:
    return [
        str(ref) for key in REFERENCES for ref in listing(obj.get(key)) if isinstance(ref, str) and "://" not in ref
    ]


def _manifest(tree: Tree, path: str, result: Build) -> None:
    for obj in tree.objects(path):
        if obj.get("kind") in WORKLOADS:
            name = str(mapping(obj.get("metadata")).get("name", ""))
            result.containers += [(path, name, c, image) for c, image in containers_of(obj)]
        elif obj.get("kind") == "HelmRelease":
            result.releases.append((path, obj))


def patch_files(tree: Tree, folder: str) -> list[str]:
    """The files a kustomization patches with (strategic merge and JSON 6902, old and new keys)."""
    kustomization = tree.kustomization(folder)
    objs = tree.objects(kustomization)[:1] if kustomization else []
    found = []
    for obj in objs:
        for entry in listing(obj.get("patchesStrategicMerge")):
            if isinstance(entry, str) and "\n" not in entry:
                found.append(entry)
        for key in ("patches", "patchesJson6902"):
            for entry in listing(obj.get(key)):
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    found.append(entry["path"])
    paths = (posixpath.normpath(posixpath.join(folder, p)) for p in found)
    return [p for p in paths if p in tree.paths]


def folder_units(tree: Tree, folder: str, *, stage: str, app: str | None, source: str, weight: int) -> list[Unit]:
    """The units a stage's folder gives, one per application it deploys: through its kustomization
    when it has one, else from its manifests (a workload's image, a HelmRelease) where they are."""
    kustomization = tree.kustomization(folder)
    built = build(tree, folder)
    patches = patch_files(tree, folder) if kustomization else []
    units = _release_units(
        tree, built, patches, stage_folder=folder, stage=stage, app=app, source=source, weight=weight
    )
    for name, chosen in _applications(built, app, released={u.app for u in units}).items():
        if kustomization is not None:
            where, located = _locate(tree, kustomization, patches, built, name, chosen)
        else:
            container, repo = chosen
            where = next(f for f, _w, c, i in built.containers if c == container and image_repository(i) == repo)
            located = _image_version(name, container)
        units.append(Unit(name, stage, (where,), located, f"{source}: {_describe(located)} in {where}", weight))
    return units


def _applications(built: Build, app: str | None, released: set[str]) -> dict[str, tuple[str, str]]:
    """Application -> (container, image repository): the folder's app, else one per workload."""
    pairs = [(workload, container, image_repository(image)) for _f, workload, container, image in built.containers]
    if app is not None:
        if app in released:
            return {}
        for _workload, container, repo in pairs:
            if app in (container, image_name(repo)):
                return {app: (container, repo)}
        mains = {(w, c, r) for w, c, r in pairs if c == w or image_name(r) == w}
        if len(pairs) == 1 or len(mains) == 1:
            _w, container, repo = (pairs if len(pairs) == 1 else sorted(mains))[0]
            return {app: (container, repo)}
        if not pairs and len(built.images) == 1:
            (name,) = built.images
            return {app: ("", name)}
        return {}
    chosen: dict[str, tuple[str, str]] = {}
    for workload, container, repo in pairs:
        if workload and (container == workload or image_name(repo) == workload) and workload not in released:
            chosen.setdefault(workload, (container, repo))
    return chosen


def _locate(tree: Tree, kustomization: str, patches: list[str], built: Build, app: str,
            chosen: tuple[str, str]) -> tuple[str, Version]:  # fmt: skip
    container, repo = chosen
    own = {str(e.get("name")) for obj in tree.objects(kustomization)[:1] for e in listing(obj.get("images"))
           if isinstance(e, dict)}  # fmt: skip
    entry = next((n for n in own if n == repo or image_name(n) == image_name(repo)), None)
    if entry:
        return kustomization, version("kustomize-image", image=entry)
    for patch in patches:
        for obj in tree.objects(patch):
            for name, image in containers_of(obj):
                if image_repository(image) == repo:
                    return patch, _image_version(app, name)
        if _json_patch_sets_image(tree, patch, repo):
            return patch, _image_version(app, container)
    inherited = next((n for n in built.images if n == repo or image_name(n) == image_name(repo)), repo)
    return kustomization, version("kustomize-image", image=inherited)


def _image_version(app: str, container: str) -> Version:
    return version("image") if container in (app, "") else version("image", container=container)


def _json_patch_sets_image(tree: Tree, patch: str, repo: str) -> bool:
    for doc in tree.documents.get(patch, ()):
        for op in listing(doc):
            value = op.get("value") if isinstance(op, dict) and str(op.get("path", "")).endswith("/image") else None
            if isinstance(value, str) and image_repository(value) == repo:
                return True
    return False


def _release_units(tree: Tree, built: Build, patches: list[str], *, stage_folder: str, stage: str, app: str | None,
                   source: str, weight: int) -> list[Unit]:  # fmt: skip
    units = []
    for path, release in built.releases:
        name = str(mapping(release.get("metadata")).get("name", ""))
        if not name:
            continue
        label = app if app is not None and len(built.releases) == 1 else name
        patched = next(((p, obj) for p in patches for obj in tree.objects(p)
                        if obj.get("kind") == "HelmRelease" and mapping(obj.get("metadata")).get("name") == name
                        and release_version(obj, name) is not None), None)  # fmt: skip
        where, obj = patched or (path, release)
        located = release_version(obj, name) or version("helmrelease-chart", name=name)
        said = f"{source}: HelmRelease {name} ({path}), {_describe(located)} in {where}"
        if not patched and not path.startswith(f"{stage_folder}/"):
            said += " (a shared file: a promotion to this stage changes every stage without a patch of its own)"
        units.append(Unit(label, stage, (where,), located, said, weight))
    return units


def _describe(located: Version) -> str:
    fields = dict(located)
    kind = fields.pop("kind")
    detail = ", ".join(f"{k} {v}" for k, v in fields.items())
    return f"{kind} ({detail})" if detail else kind
