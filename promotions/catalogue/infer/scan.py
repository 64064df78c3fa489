"""All the evidence of a tree, strongest first: Argo CD and Flux objects name stages and folders;
folder and file names fill in the rest (stage folders, values files per environment)."""

from __future__ import annotations

from promotions.catalogue.infer import kustomize
from promotions.catalogue.infer.argocd import argocd_units
from promotions.catalogue.infer.evidence import FOLDER, Found, where
from promotions.catalogue.infer.flux import flux_stages, flux_units
from promotions.catalogue.infer.helm import values_units
from promotions.catalogue.infer.kargo import kargo_graph
from promotions.catalogue.infer.tree import Tree


def tree_scan(tree: Tree) -> Found:
    """Everything inference finds in `tree`."""
    found = Found()
    kargo_graph(tree, found)
    applied = flux_stages(tree, found)  # stage names first: they help read the rest
    argocd_units(tree, found)
    flux_units(tree, found, applied)
    _folder_units(tree, found)
    values_units(tree, found)
    found.unresolved += tree.problems
    return found


def _folder_units(tree: Tree, found: Found) -> None:
    """Stage folders by name: each kustomization folder, and manifest folders outside them."""
    roots: list[str] = []
    for folder in sorted(tree.dirs | {""}):
        stage, app = where(f"{folder}/x" if folder else "x", found.stages)
        if stage is None:
            continue
        kustomization = tree.kustomization(folder)
        if kustomization is None and any(_inside(folder, root) for root in roots):
            continue  # a kustomization's own patches and resources
        if kustomization is not None:
            roots.append(folder)
        label = f"stage folder {folder}/"
        units = kustomize.folder_units(tree, folder, stage=stage, app=app, source=label, weight=FOLDER)
        for unit in units:
            found.add(unit)
        if app is not None and not units:
            _miss(tree, found, folder, app, stage)


def _miss(tree: Tree, found: Found, folder: str, app: str, stage: str) -> None:
    """A stage folder of `app` whose workloads do not say which container is the application's."""
    containers = sorted({f"{c} ({i})" for _f, _w, c, i in kustomize.build(tree, folder).containers})
    if containers:
        why = (f"{folder}/: no container named {app} or running an image named {app} (found {', '.join(containers)}); "
               "name it: version: {kind: image, container: …}")  # fmt: skip
        found.misses.append((app, stage, why))


def _inside(folder: str, root: str) -> bool:
    return folder.startswith(f"{root}/") if root else True
