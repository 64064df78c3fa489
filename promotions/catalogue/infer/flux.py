"""Flux: each cluster's Kustomizations name the folder it applies, and so the stage's folder.

A `Kustomization` (kustomize.toolkit.fluxcd.io) in `clusters/<stage>/` applies `spec.path`; that
folder is read like any stage folder (its overlay, the HelmReleases and workloads it builds),
with the stage the cluster folder names. Without a kustomization file there, Flux applies every
manifest under the folder: each sub-folder with a kustomization is then read on its own.
"""

from __future__ import annotations

import posixpath
from typing import Any

from promotions.catalogue.infer import kustomize
from promotions.catalogue.infer.evidence import OPERATOR, Found, mapping, where
from promotions.catalogue.infer.names import STRUCTURAL
from promotions.catalogue.infer.tree import Tree


def flux_stages(tree: Tree, found: Found) -> list[tuple[str, str, str]]:
    """(folder, stage, label) of every Flux Kustomization whose stage is known; notes the others."""
    applied = []
    for path, obj in tree.with_kind("Kustomization"):
        if not str(obj.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/"):
            continue
        spec: dict[str, Any] = mapping(obj.get("spec"))
        name = str(mapping(obj.get("metadata")).get("name", "?"))
        label = f"Flux Kustomization {name} ({path})"
        folder = posixpath.normpath(str(spec.get("path", ".")).strip("/").removeprefix("./")).strip(".")
        stage = where(path, found.stages)[0] or where(f"{folder}/x", found.stages)[0]
        if stage is None:
            found.note(f"{label}: applies {folder or 'the root'}/, but neither its file nor its path names a stage")
            continue
        applied.append((folder, stage, label))
        found.stages.setdefault(stage, f"Flux Kustomizations in {posixpath.dirname(path)}/")
    return applied


def flux_units(tree: Tree, found: Found, applied: list[tuple[str, str, str]]) -> None:
    for folder, stage, label in applied:
        if folder not in tree.dirs and folder:
            found.note(f"{label}: its path {folder}/ is not in this repository")
            continue
        found.roots.setdefault(folder, stage)
        folders = [folder] if tree.kustomization(folder) else [
            d for d in sorted(tree.dirs) if posixpath.dirname(d) == folder and tree.kustomization(d)
        ] + [folder]  # fmt: skip
        for each in folders:
            app = where(f"{each}/x", {stage: ""})[1] if each != folder else None
            app = app if app and app.lower() not in STRUCTURAL and app != stage else None
            for unit in kustomize.folder_units(tree, each, stage=stage, app=app, source=label, weight=OPERATOR):
                found.add(unit)
