"""`manage.py catalogue check`: a typo in an item's path or a discover pattern is named with the
catalogue's line and the nearest existing path; exit 0 clean, 1 with problems, 2 for a broken
catalogue or an unreadable repository."""

import io
import json
import textwrap

import pytest
from django.core.management import call_command

from tests.builders import ALICE, BOB, at, kustomization


def values(tag: str) -> str:
    """A Helm values file per stage, as environment-per-app repositories keep them."""
    return textwrap.dedent(f"""\
        replicaCount: 2
        image:
          repository: ghcr.io/acme/billing
          tag: "{tag}"
        resources:
          limits: {{cpu: 500m, memory: 256Mi}}
        """)


def deployment(app: str, tag: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {app}
        spec:
          selector:
            matchLabels: {{app.kubernetes.io/name: {app}}}
          template:
            metadata:
              labels: {{app.kubernetes.io/name: {app}}}
            spec:
              containers:
                - name: {app}
                  image: ghcr.io/acme/{app}:{tag}
        """)


@pytest.fixture
def platform(repo):
    return platform_commit(repo)


def platform_commit(repo):
    """Global stage folders for the kustomize apps, a folder per app for the Helm ones and for the
    plain manifests: the mix a platform team ends up with."""
    files = {}
    for stage, tag in (("staging", "1.5.0"), ("production", "1.4.0")):
        files[f"{stage}/web/kustomization.yaml"] = kustomization("ghcr.io/acme/web", tag)
        files[f"{stage}/api/kustomization.yaml"] = kustomization("ghcr.io/acme/api", tag)
        files[f"apps/billing/{stage}/values.yaml"] = values(tag)
        files[f"apps/payments/{stage}/values.yaml"] = values(tag)
        files[f"apps/ledger/{stage}/deployment.yaml"] = deployment("ledger", tag)
    files["apps/billing/Chart.yaml"] = "apiVersion: v2\nname: billing\nversion: 0.3.0\n"
    files["README.md"] = "# platform\n"
    repo.commit(files, "Bootstrap the platform", author=BOB, date=at(0))
    return repo


CATALOGUE = """\
    repositories:
      - {name: platform, url: "{url}", branch: main}
    stages:
      - {name: staging}
      - {name: production}
    applications:
      defaults:
        path: "{stage}/{app}/kustomization.yaml"
        version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}
      discover:
        - "{stage}/{app}/kustomization.yaml"
        - "apps/{app}/{stage}/deployment.yaml"
      items:
        - name: payments
          path: "apps/payments/{stage}/values.yaml"
          version: {kind: helm-values, key: image.tag}
        - name: web
        - name: billing
          path: "apps/billing/{stage}/values.yaml"
          version: {kind: helm-values, key: image.tag}
"""


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("catalogue", *args, stdout=out, stderr=err)
    except SystemExit as exit:
        return int(exit.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_it_exits_0_when_every_item_and_pattern_matched(platform, write_catalog):
    path = write_catalog(CATALOGUE, url=platform.url)
    code, out, err = run("check")
    assert (code, err) == (0, "")
    assert out == (
        f"{path}: no problems (5 applications in 1 repository; every item and discover pattern matched a file)\n"
    )


def test_it_names_a_typod_item_path_with_its_line_and_the_nearest_file(platform, write_catalog):
    path = write_catalog(CATALOGUE.replace("apps/billing/{stage}", "apps/biling/{stage}"), url=platform.url)
    code, out, err = run("check")
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"{path}:18: applications.items[2] (billing): path apps/biling/{{stage}}/values.yaml matched no file "
        "in any stage; did you mean apps/billing/staging/values.yaml?",
        f"{path}: 1 problem",
    ]


def test_it_names_a_typod_discover_pattern_with_the_nearest_file(platform, write_catalog):
    path = write_catalog(CATALOGUE.replace("{stage}/deployment.yaml", "{stage}/deployment.yml"), url=platform.url)
    code, out, _ = run("check")
    assert code == 1
    assert out.splitlines()[0] == (
        f"{path}:12: applications.discover[1]: pattern apps/{{app}}/{{stage}}/deployment.yml matched no file "
        "in any stage; did you mean apps/ledger/staging/deployment.yaml?"
    )


def test_a_single_discover_pattern_that_matches_nothing_is_named_too(platform, write_catalog):
    catalogue = CATALOGUE.replace(
        """\
      discover:
        - "{stage}/{app}/kustomization.yaml"
        - "apps/{app}/{stage}/deployment.yaml"
""",
        '      discover: "{stage}/{app}/kustomizaton.yaml"\n',
    )
    path = write_catalog(catalogue, url=platform.url)
    code, out, _ = run("check")
    assert code == 1
    assert out.splitlines()[0] == (
        f"{path}:10: applications.discover: pattern {{stage}}/{{app}}/kustomizaton.yaml matched no file in any "
        "stage; did you mean staging/api/kustomization.yaml?"
    )


def test_an_item_missing_in_one_stage_only_is_no_problem(platform, write_catalog):
    platform.commit(
        {"apps/billing/production/values.yaml": None}, "billing leaves production", author=ALICE, date=at(1)
    )
    write_catalog(CATALOGUE, url=platform.url)
    assert run("check")[0] == 0


def test_a_path_nothing_resembles_is_named_without_a_hint(platform, write_catalog):
    path = write_catalog(
        CATALOGUE.replace("apps/payments/{stage}/values.yaml", "charts/{stage}/payments-overrides.json"),
        url=platform.url,
    )
    code, out, _ = run("check")
    assert code == 1
    assert out.splitlines()[0] == (
        f"{path}:14: applications.items[0] (payments): path charts/{{stage}}/payments-overrides.json matched no "
        "file in any stage"
    )


def test_the_catalogue_warnings_are_listed_and_fail_the_check(platform, write_catalog):
    catalogue = CATALOGUE.replace("  - {name: production}", "  - {name: production, cluster: {context: prod}}")
    listed = '        - {name: payments-, path: "apps/payments/{stage}/values.yaml", version: {kind: helm-values}}\n'
    path = write_catalog(catalogue + listed, url=platform.url)
    code, out, err = run("check")
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"warning: {path}:21: application name 'payments-' is not a valid Kubernetes label")
    assert lines[-1] == f"{path}: 1 problem"


def test_it_prints_one_json_document(platform, write_catalog):
    path = write_catalog(CATALOGUE.replace("apps/billing/{stage}", "apps/biling/{stage}"), url=platform.url)
    code, out, _ = run("check", "--json")
    assert code == 1
    assert json.loads(out) == {
        "catalogue": str(path),
        "repositories": [{"name": "platform", "commit": platform.head(), "error": None}],
        "problems": [
            f"{path}:18: applications.items[2] (billing): path apps/biling/{{stage}}/values.yaml matched no file "
            "in any stage; did you mean apps/billing/staging/values.yaml?"
        ],
        "warnings": [],
    }


def test_it_takes_the_catalogue_from_the_config_option(platform, write_catalog, settings, tmp_path):
    path = write_catalog(CATALOGUE, url=platform.url)
    settings.GITOPS_PORTAL_CONFIG = tmp_path / "elsewhere.yaml"
    assert run("check", "--config", str(path))[0] == 0


def test_a_broken_catalogue_exits_2_naming_file_and_line(platform, write_catalog):
    path = write_catalog(CATALOGUE.replace("      items:", "      itemz:"), url=platform.url)
    code, out, err = run("check")
    assert (code, out) == (2, "")
    assert err == (
        f"error: {path}:13: applications.itemz: unknown key 'itemz' (expected one of: defaults, discover, items)\n"
    )


def test_an_unreadable_repository_exits_2_naming_it(write_catalog, tmp_path):
    gone = (tmp_path / "gone.git").as_uri()
    write_catalog(CATALOGUE, url=gone)
    code, _, err = run("check")
    assert code == 2
    assert err.startswith(f"error: repository 'platform': cannot fetch {gone}: ")


def test_it_needs_a_subcommand():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match=r"the following arguments are required: \{check,init\}"):
        call_command("catalogue")


def test_the_real_command_line_exits_1_naming_the_typo(platform, write_catalog, tmp_path):
    import subprocess
    import sys

    path = write_catalog(CATALOGUE.replace("apps/billing/{stage}", "apps/biling/{stage}"), url=platform.url)
    env = {"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "cli-data"), "DEBUG": "true"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "catalogue", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "did you mean apps/billing/staging/values.yaml?" in proc.stdout
