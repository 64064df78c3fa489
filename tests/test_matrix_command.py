"""`manage.py matrix`: the table, the JSON contract, and the exit codes."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.builders import ALICE, PLAIN, at, kustomization


@pytest.fixture
def catalog(repo, write_catalog):
    repo.commit(
        {
            "dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.4.3"),
            "staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.4.2"),
            "dev/api/kustomization.yaml": "images: [oops",
        },
        "Release web",
        author=ALICE,
        date=at(1),
    )
    return write_catalog(PLAIN, url=repo.url)


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("matrix", *args, stdout=out, stderr=err)
    except SystemExit as exit:
        return int(exit.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_it_prints_the_json_contract(catalog, repo):
    code, out, err = run("--json", "--allow-errors")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["repositories"] == [{"name": "platform", "commit": repo.head(), "error": None}]
    assert document["stages"] == ["dev", "staging", "production"]
    web = next(app for app in document["applications"] if app["name"] == "web")
    assert web["repository"] == "platform"
    assert web["stages"]["staging"] == {
        "version": "1.4.2",
        "path": "staging/web/kustomization.yaml",
        "line": 7,
        "commit": repo.head(),
        "author": "Alice Martin",
        "date": "2026-10-02T09:00:00+00:00",
        "subject": "Release web",
        "error": None,
        "live": None,  # this stage has no cluster
        "relation": "behind",  # dev has a newer version
        "upstream": ["dev"],
    }
    assert web["stages"]["production"]["version"] is None
    assert web["stages"]["production"]["path"] is None
    assert web["stages"]["production"]["error"] is None


def test_it_exits_1_when_a_cell_is_an_error(catalog):
    code, out, err = run("--json")
    api = next(app for app in json.loads(out)["applications"] if app["name"] == "api")
    assert (code, err) == (1, "")
    assert api["stages"]["dev"]["error"].startswith(
        "dev/api/kustomization.yaml:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence started on line 1)"
    )


def test_it_exits_0_with_error_cells_when_errors_are_allowed(catalog):
    code, out, _ = run("--json", "--allow-errors")
    assert code == 0
    api = next(app for app in json.loads(out)["applications"] if app["name"] == "api")
    assert api["stages"]["dev"]["error"].startswith("dev/api/kustomization.yaml:1: invalid YAML")


def test_it_exits_0_once_the_broken_file_is_fixed(catalog, repo):
    repo.commit(
        {"dev/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "2.0.0")}, "Fix api", author=ALICE, date=at(2)
    )
    code, out, err = run()
    assert (code, err) == (0, "")
    assert "Errors:" not in out


def test_it_prints_a_table_marking_differences_and_errors(catalog, repo):
    code, out, _ = run()
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["APPLICATION", "DEV", "STAGING", "PRODUCTION"]
    assert lines[1].split() == ["api", "ERROR", "-", "-"]
    assert lines[2].split() == ["web", "1.4.3", "1.4.2*", "-"]
    assert f"platform@{repo.head()[:10]}" in out
    assert "  api/dev: dev/api/kustomization.yaml:1: invalid YAML: did not find" in out


def test_the_real_command_line_exits_1_for_an_error_cell(catalog, tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "cli-data"), "DEBUG": "true"}
    args = [sys.executable, "manage.py", "matrix", "--config", str(catalog)]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "api/dev: dev/api/kustomization.yaml:1: invalid YAML" in proc.stdout
    allowed = subprocess.run([*args, "--allow-errors"], capture_output=True, text=True, env=env, check=False)
    assert allowed.returncode == 0, allowed.stderr


def test_it_takes_the_catalogue_from_the_config_option(catalog, tmp_path, settings):
    settings.GITOPS_PORTAL_CONFIG = tmp_path / "elsewhere.yaml"
    assert run("--config", str(catalog), "--json", "--allow-errors")[0] == 0


def test_a_broken_catalogue_exits_2_with_one_line_naming_file_and_line(catalog):
    catalog.write_text(catalog.read_text().replace("stages:", "stagez:"))
    code, out, err = run("--json")
    assert (code, out) == (2, "")
    assert (
        err
        == f"error: {catalog}:3: stagez: unknown key 'stagez' (expected one of: repositories, stages, applications, admins, notifications)\n"
    )


def test_an_unreachable_repository_exits_2_with_one_line(write_catalog, tmp_path):
    write_catalog(PLAIN, url=(tmp_path / "gone.git").as_uri())
    code, _, err = run()
    assert code == 2
    assert err.startswith(f"error: repository 'platform': cannot fetch {(tmp_path / 'gone.git').as_uri()}: ")
    assert err.count("\n") == 1


def test_the_real_command_line_exits_2_for_a_broken_catalogue(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("repositories: [\n")
    env = {"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "data"), "DEBUG": "true"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "matrix", "--config", str(broken)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr
        == f"error: {broken}:1: invalid YAML: did not find expected node content (while parsing a flow node started on line 1)\n"
    )
    assert proc.stderr.count("\n") == 1
