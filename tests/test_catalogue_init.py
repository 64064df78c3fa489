"""`manage.py catalogue init URL [--branch B] [--out FILE]`: the catalogue it infers from a GitOps
repository loads, lists the stages in order with their upstreams, and reads the right version in
every cell. The repositories are in `tests/init_shapes.py`, one per layout teams use."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from promotions.catalogue.loader import catalog_load
from promotions.catalogue.lookups import Catalog
from promotions.matrix.document import matrix_document
from promotions.matrix.refresh import matrix_read_git
from sandbox.gitrepo import RepoBuilder
from tests.builders import BOB, at
from tests.init_shapes import SHAPES, Shape

Cells = dict[tuple[str, str], dict[str, Any]]
KARGO = next(shape for shape in SHAPES if shape.id == "kargo-single-app")


def init(*args: str, out: Path) -> str:
    """Run `catalogue init` writing to `out`; the catalogue's text."""
    call_command("catalogue", "init", *args, "--out", str(out))
    return out.read_text()


def matrix(catalog: Catalog) -> tuple[set[str], Cells]:
    """The applications and the cells the matrix reads from Git with `catalog`."""
    reads = matrix_read_git(catalog=catalog)
    assert [r.error for r in reads if r.error] == []
    document = matrix_document(catalog=catalog, reads=reads)
    cells = {(a["name"], s): c for a in document["applications"] for s, c in a["stages"].items()}
    return {a["name"] for a in document["applications"]}, cells


def shown(cell: dict[str, Any] | None) -> str | None:
    """What a cell shows: its version, or its error (None when there is no such cell)."""
    if cell is None:
        return None
    return cell["version"] if cell["error"] is None else f"error: {cell['error']}"


def sections(text: str) -> tuple[str, str]:
    """The catalogue's text before its closing "Not inferred" section, and that section (from its
    heading line on; "" without one)."""
    match = re.search(r"^.*not inferred.*$", text, re.IGNORECASE | re.MULTILINE)
    return (text[: match.start()], text[match.start() :]) if match else (text, "")


@pytest.mark.parametrize("shape", SHAPES, ids=[shape.id for shape in SHAPES])
def test_it_infers_a_catalogue_that_reads_every_cell(shape: Shape, repo: RepoBuilder, tmp_path: Path) -> None:
    repo.commit(shape.files, "Environments", author=BOB, date=at(0))
    inferred, not_inferred = sections(init(repo.url, out=tmp_path / "catalogue.yaml"))
    catalog = catalog_load(tmp_path / "catalogue.yaml")
    applications, cells = matrix(catalog)

    assert catalog.stage_names == shape.stages
    assert {stage: catalog.upstreams(stage) for stage in shape.stages} == shape.upstream
    assert {key: shown(cells.get(key)) for key in shape.cells} == shape.cells
    assert applications == {app for app, _ in shape.cells}
    assert {key: (cells.get(key) or {}).get("path") for key in shape.paths} == shape.paths
    assert [key for key in shape.absent if (cells.get(key) or {}).get("path") is not None] == []
    assert {app: path for app, path in shape.sources.items() if path not in inferred} == {}
    assert [item for item in shape.unresolved if item not in not_inferred] == []


def test_it_reads_the_branch_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "remote" / "guestbook.git"
    RepoBuilder(path).commit({"README.md": "# guestbook\n\nThe environments are on the `environments` branch.\n"},
                             "Initial commit", author=BOB, date=at(0))  # fmt: skip
    environments = RepoBuilder(path, branch="environments")
    environments.commit(KARGO.files, "Environments", author=BOB, date=at(1))

    init(environments.url, "--branch", "environments", out=tmp_path / "catalogue.yaml")
    catalog = catalog_load(tmp_path / "catalogue.yaml")
    assert [r.branch for r in catalog.repositories] == ["environments"]
    assert catalog.stage_names == KARGO.stages
    assert {key: shown(cell) for key, cell in matrix(catalog)[1].items()} == KARGO.cells


def test_without_out_it_prints_the_catalogue(repo: RepoBuilder, tmp_path: Path) -> None:
    repo.commit(KARGO.files, "Environments", author=BOB, date=at(0))
    out = io.StringIO()
    call_command("catalogue", "init", repo.url, stdout=out)
    printed = tmp_path / "printed.yaml"
    printed.write_text(out.getvalue())
    catalog = catalog_load(printed)
    assert catalog.stage_names == KARGO.stages
    assert {key: shown(cell) for key, cell in matrix(catalog)[1].items()} == KARGO.cells


def test_it_names_a_repository_it_cannot_clone(tmp_path: Path) -> None:
    url = (tmp_path / "remote" / "nowhere.git").as_uri()
    err = io.StringIO()
    with pytest.raises((CommandError, SystemExit)) as raised:
        call_command("catalogue", "init", url, "--out", str(tmp_path / "catalogue.yaml"), stderr=err)
    assert url in f"{raised.value}\n{err.getvalue()}"
    assert not (tmp_path / "catalogue.yaml").exists()


# An application's source repository, not a GitOps one: YAML, but no stage anywhere.
SOURCE_REPOSITORY = {
    "README.md": "# checkout\n\nThe checkout service. Deployed from acme/platform-gitops.\n",
    "Dockerfile": "FROM golang:1.22 AS build\nWORKDIR /src\nCOPY . .\nRUN go build -o /checkout ./cmd/checkout\n",
    "cmd/checkout/main.go": "package main\n\nfunc main() {}\n",
    "docker-compose.yml": 'services:\n  checkout:\n    build: .\n    ports: ["8080:8080"]\n  postgres:\n    image: postgres:16\n',
    ".github/workflows/ci.yaml": "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: go test ./...\n",
}


def test_it_refuses_a_repository_without_stages(repo: RepoBuilder, tmp_path: Path) -> None:
    repo.commit(SOURCE_REPOSITORY, "Initial commit", author=BOB, date=at(0))
    with pytest.raises(CommandError, match=r"(?i)\b(no|any) stages?\b"):
        call_command("catalogue", "init", repo.url, "--out", str(tmp_path / "catalogue.yaml"))
    assert not (tmp_path / "catalogue.yaml").exists()
