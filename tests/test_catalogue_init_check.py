"""`catalogue init --check` for CI, and repositories that try to write the catalogue for us."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from promotions.catalogue.loader import catalog_load
from sandbox.gitrepo import RepoBuilder
from tests.builders import BOB, at, kustomization

BASE = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: APP}\nspec:\n  template:\n    spec:\n      containers:\n" \
       "        - {name: APP, image: ghcr.io/acme/APP:1.0.0}\n"  # fmt: skip


def overlays(apps: tuple[str, ...], stages: tuple[str, ...]) -> dict[str, str]:
    files = {}
    for app in apps:
        files[f"apps/{app}/base/deployment.yaml"] = BASE.replace("APP", app)
        files[f"apps/{app}/base/kustomization.yaml"] = "resources: [deployment.yaml]\n"
        for i, stage in enumerate(stages):
            files[f"apps/{app}/overlays/{stage}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", f"1.{i}.0")
    return files


def check(url: str, config: Path) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("catalogue", "init", url, "--check", "--config", str(config), stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_it_lists_the_stages_and_applications_the_catalogue_lacks(repo: RepoBuilder, write_catalog) -> None:  # type: ignore[no-untyped-def]
    repo.commit(overlays(("cart", "checkout"), ("dev", "staging", "prod")), "three stages", author=BOB, date=at(0))
    config = write_catalog(
        '    repositories:\n      - {name: platform, url: "{url}", branch: main}\n'
        "    stages:\n      - {name: dev}\n      - {name: staging}\n"
        '    applications:\n      defaults:\n        path: "apps/{app}/overlays/{stage}/kustomization.yaml"\n'
        "        version: {kind: kustomize-image}\n      items: [{name: checkout}]\n",
        url=repo.url,
    )
    status, output = check(repo.url, config)
    assert status == 1
    assert output.splitlines() == [
        f"{config}: stage prod is in the repository (folder and file names) but not in the catalogue",
        f"{config}: application cart is in the repository (stage folder apps/cart/overlays/dev/: kustomize-image "
        "(image ghcr.io/acme/cart) in apps/cart/overlays/dev/kustomization.yaml) but not in the catalogue",
    ]


def test_a_catalogue_written_by_init_passes_its_check(repo: RepoBuilder, tmp_path: Path) -> None:
    repo.commit(overlays(("cart", "checkout"), ("dev", "prod")), "two stages", author=BOB, date=at(0))
    config = tmp_path / "catalogue.yaml"
    call_command("catalogue", "init", repo.url, "--out", str(config), stdout=io.StringIO())
    assert check(repo.url, config) == (0, f"{config}: every application and stage the repository has is in the "
                                          "catalogue\n")  # fmt: skip


def test_it_never_overwrites_a_catalogue_without_force(repo: RepoBuilder, tmp_path: Path) -> None:
    repo.commit(overlays(("cart",), ("dev", "prod")), "two stages", author=BOB, date=at(0))
    config = tmp_path / "catalogue.yaml"
    config.write_text("# hand-written\n")
    with pytest.raises(Exception, match=r"exists; choose another --out, or --force to overwrite it"):
        call_command("catalogue", "init", repo.url, "--out", str(config))
    assert config.read_text() == "# hand-written\n"
    call_command("catalogue", "init", repo.url, "--out", str(config), "--force", stdout=io.StringIO())
    assert [a.name for a in catalog_load(config).applications.items] == ["cart"]


FLUX = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: "apps\\n  - name: injected-stage"
  namespace: flux-system
spec:
  path: ./apps/STAGE
  sourceRef: {kind: GitRepository, name: flux-system}
"""
RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: "cache\\n    - name: injected"
spec:
  chart:
    spec: {chart: redis, version: 19.0.1, sourceRef: {kind: HelmRepository, name: bitnami}}
"""


def test_names_from_the_repository_never_become_catalogue_structure(repo: RepoBuilder, tmp_path: Path) -> None:
    files = overlays(("cart",), ("dev", "prod"))
    for stage in ("dev", "prod"):
        files[f"clusters/{stage}/apps.yaml"] = FLUX.replace("STAGE", stage)
        files[f"apps/{stage}/cache.yaml"] = RELEASE
    files["apps/cart/overlays/prod/broken.yaml"] = "key: [unclosed\n  - name: injected\n"
    repo.commit(files, "hostile names", author=BOB, date=at(0))
    config = tmp_path / "catalogue.yaml"
    call_command("catalogue", "init", repo.url, "--out", str(config), stdout=io.StringIO())
    text = config.read_text()
    catalog = catalog_load(config)
    assert ([a.name for a in catalog.applications.items], catalog.stage_names) == (["cart"], ["dev", "prod"])
    assert [line for line in text.splitlines() if "injected" in line.split("#", 1)[0]] == []  # comments only
    assert "'cache\\n    - name: injected' in 'dev' is not usable as a name; left out" in text
    assert "apps/cart/overlays/prod/broken.yaml:2: not valid YAML" in text


KARGO_STAGE = """\
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: NAME, namespace: shop}
spec:
  requestedFreight:
    - origin: {kind: Warehouse, name: shop}
      sources: SOURCES
"""


def test_kargo_stages_give_the_graph_the_names_alone_would_not(repo: RepoBuilder, tmp_path: Path) -> None:
    """perf and qa both test what dev has, and prod takes from both: ranks alone would chain them."""
    stages = {"dev": "{direct: true}", "qa": "{stages: [dev]}", "perf": "{stages: [dev]}",
              "prod": "{stages: [qa, perf]}"}  # fmt: skip
    files = overlays(("cart",), tuple(stages))
    files["kargo/stages.yaml"] = "---\n".join(
        KARGO_STAGE.replace("NAME", name).replace("SOURCES", sources) for name, sources in stages.items()
    )
    repo.commit(files, "a Kargo project", author=BOB, date=at(0))
    config = tmp_path / "catalogue.yaml"
    call_command("catalogue", "init", repo.url, "--out", str(config), stdout=io.StringIO())
    catalog = catalog_load(config)
    assert {stage: catalog.upstreams(stage) for stage in catalog.stage_names} == {
        "dev": [], "qa": ["dev"], "perf": ["dev"], "prod": ["qa", "perf"],
    }  # fmt: skip
    assert "  - name: prod  # Kargo Stage prod (kargo/stages.yaml)" in config.read_text()


def test_what_it_cannot_tell_it_says_rather_than_guesses(repo: RepoBuilder, tmp_path: Path) -> None:
    files = overlays(("cart",), ("dev", "prod"))
    files["apps/cart/overlays/eu-central/kustomization.yaml"] = kustomization("ghcr.io/acme/cart", "1.9.0")
    two = BASE.replace("APP", "api") + "        - {name: worker, image: ghcr.io/acme/jobs:4.0.0}\n"
    files["dev/billing/deployment.yaml"] = two.replace("name: api}", "name: billing}").replace(
        "{name: api,", "{name: http,"
    )
    repo.commit(files, "an odd stage and an ambiguous folder", author=BOB, date=at(0))
    config = tmp_path / "catalogue.yaml"
    call_command("catalogue", "init", repo.url, "--out", str(config), stdout=io.StringIO())
    text = config.read_text()
    assert "  - name: eu-central  # folder and file names; not a usual stage name, so its place in the order is a " \
           "guess: move it where it belongs" in text  # fmt: skip
    assert (
        "# - dev/billing/: no container named billing or running an image named billing (found http "
        "(ghcr.io/acme/api:1.0.0), worker (ghcr.io/acme/jobs:4.0.0)); name it: version: {kind: image, container: …}"
    ) in text
    assert [a.name for a in catalog_load(config).applications.items] == ["cart"]
