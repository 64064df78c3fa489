"""The catalogue file: the documented format loads, and every mistake names file, line and problem."""

import re
import textwrap
from pathlib import Path

import pytest

from promotions.catalogue.loader import catalog_get, catalog_load, catalog_parse
from promotions.errors import ConfigError

DESIGN_SKETCH = """\
repositories:
  - name: platform
    url: file:///srv/git/platform.git        # or https://github.com/acme/platform.git
    branch: main
    provider: local                           # local | github
    # github: {repo: acme/platform, api_url: https://api.github.com}
stages:
  - name: staging
    cluster: {context: staging, namespace: "{app}"}
    promotion: {mode: commit}
  - name: production
    cluster: {context: production, namespace: "{app}"}
    promotion: {mode: pull_request, approvals: 1, approvers: [release-managers]}
applications:
  defaults:
    repository: platform
    path: "{stage}/{app}/kustomization.yaml"
    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}
    live: {selector: "app.kubernetes.io/name={app}"}
  discover: "{stage}/{app}/kustomization.yaml"   # optional: every folder matching is an app
  items:
    - name: billing
      path: "apps/billing/{stage}/values.yaml"
      version: {kind: helm-values, key: image.tag}
"""


def load(text: str):
    return catalog_parse(textwrap.dedent(text), path="catalog.yaml")


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return caught.value


def test_it_loads_the_format_documented_in_the_design():
    catalog = load(DESIGN_SKETCH)
    assert catalog.stage_names == ["staging", "production"]
    assert catalog.stage("production").promotion.mode == "pull_request"
    assert catalog.stage("production").promotion.approvers == ["release-managers"]
    assert catalog.stage("staging").cluster.context == "staging"
    assert catalog.repository("platform").url == "file:///srv/git/platform.git"


def test_it_resolves_listed_and_discovered_applications():
    catalog = load(DESIGN_SKETCH)
    paths = [
        "staging/web/kustomization.yaml",
        "production/web/kustomization.yaml",
        "production/api/kustomization.yaml",
        "qa/ghost/kustomization.yaml",  # qa is not a declared stage
        "staging/web/deployment.yaml",
    ]
    apps = {app.name: app for app in catalog.applications_in("platform", paths)}
    assert sorted(apps) == ["api", "billing", "web"]
    assert apps["web"].discovered
    assert apps["web"].files["production"].path == "production/web/kustomization.yaml"
    assert apps["web"].files["production"].locator.image == "ghcr.io/acme/web"
    assert apps["billing"].files["staging"].path == "apps/billing/staging/values.yaml"
    assert apps["billing"].files["staging"].locator.path == "image.tag"


def test_a_listed_item_customises_a_discovered_application():
    text = DESIGN_SKETCH + '    - name: web\n      version: {kind: image, container: "{app}-server"}\n'
    apps = {app.name: app for app in load(text).applications_in("platform", ["staging/web/kustomization.yaml"])}
    assert not apps["web"].discovered
    assert apps["web"].files["staging"].locator.container == "web-server"


def test_per_stage_overrides_and_stage_lists_shape_where_an_app_lives():
    text = DESIGN_SKETCH + textwrap.indent(
        textwrap.dedent("""\
        - name: search
          path: "apps/search/{stage}.yaml"
          version: {kind: helm-values}
          stages: [production]
          overrides:
            production: {path: "prod/search.yaml", version: {kind: yaml-path, path: "spec.version"}}
        """),
        "    ",
    )
    search = load(text).application("search", "platform")
    assert list(search.files) == ["production"]
    assert search.files["production"].path == "prod/search.yaml"
    assert search.files["production"].locator.path == "spec.version"


def test_discovery_without_a_stage_placeholder_finds_apps_for_every_stage():
    text = DESIGN_SKETCH.replace(
        'discover: "{stage}/{app}/kustomization.yaml"', 'discover: "apps/{app}/base/kustomization.yaml"'
    )
    apps = load(text).applications_in("platform", ["apps/shop/base/kustomization.yaml"])
    assert [a.name for a in apps] == ["billing", "shop"]


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (
            ("promotion: {mode: commit}", "promotion: {mod: commit}"),
            10,
            "stages[0].promotion.mod: unknown key 'mod' (expected one of: mode, approvals, approvers, requesters, "
            "self_approval, auto_merge, rollback_approvals, freeze, soak_seconds, deploy_deadline_seconds, from)",
        ),
        (
            ("kind: helm-values", "kind: helm-valuez"),
            24,
            "applications.items[0].version: unknown locator kind 'helm-valuez' (expected one of: kustomize-image, "
            "helm-values, helmrelease-chart, image, yaml-path)",
        ),
        (
            ("key: image.tag}", "key: image.tag, tag: x}"),
            24,
            "applications.items[0].version.tag: unknown key 'tag' (expected one of: kind, key)",
        ),
        (
            ("mode: pull_request", "mode: merge"),
            13,
            "stages[1].promotion.mode: Input should be 'commit' or 'pull_request'",
        ),
        (
            ("approvals: 1", "approvals: -1"),
            13,
            "stages[1].promotion.approvals: Input should be greater than or equal to 0",
        ),
        (
            ("    repository: platform", "    repository: infra"),
            16,
            "repository 'infra' is not declared (declared: platform)",
        ),
        (
            ("    url: file:///srv/git/platform.git", "    # no url"),
            2,
            "repositories[0].url: required key is missing",
        ),
        (
            ('path: "{stage}/{app}/kustomization.yaml"', 'path: "{env}/{app}/kustomization.yaml"'),
            17,
            "applications.defaults.path: unknown placeholder {env} in '{env}/{app}/kustomization.yaml' (allowed: {app}, {stage})",
        ),
        (
            ('discover: "{stage}/{app}/kustomization.yaml"', 'discover: "{stage}/kustomization.yaml"'),
            20,
            "applications.discover: discover pattern '{stage}/kustomization.yaml' must contain {app}",
        ),
        (
            ("key: image.tag}", 'key: "image[.tag"}'),
            24,
            "applications.items[0].version.key: unclosed '[' at position 6 in path 'image[.tag'",
        ),
        (
            ("provider: local", "provider: github"),
            2,
            "repositories[0]: provider 'github' needs a 'github' block with at least 'repo: owner/name'",
        ),
        (
            ("provider: local", "provider: gitlab"),
            2,
            "repositories[0]: provider 'gitlab' needs a 'gitlab' block with at least 'project: group/name'",
        ),
        (
            ("provider: local", "provider: bitbucket"),
            5,
            "repositories[0].provider: Input should be 'local', 'github', 'gitlab' or 'gitea'",
        ),
        (
            ('path: "{stage}/{app}/kustomization.yaml"', 'path: "../{stage}/{app}/kustomization.yaml"'),
            17,
            "applications.defaults.path: path '../{stage}/{app}/kustomization.yaml' must stay inside the repository "
            "(relative, without '..' segments)",
        ),
        (
            ('path: "{stage}/{app}/kustomization.yaml"', 'path: "/etc/{app}.yaml"'),
            17,
            "applications.defaults.path: path '/etc/{app}.yaml' must stay inside the repository (relative, without "
            "'..' segments)",
        ),
        (
            ('discover: "{stage}/{app}/kustomization.yaml"', 'discover: "{stage}/../{app}/kustomization.yaml"'),
            20,
            "applications.discover: path '{stage}/../{app}/kustomization.yaml' must stay inside the repository "
            "(relative, without '..' segments)",
        ),
        (("  - name: production", "  - name: staging"), 11, "stages[1]: duplicate name 'staging'"),
        (
            ("    branch: main", "    branch: main\n    branch: dev"),
            5,
            "repositories[0].branch: duplicate key 'branch'",
        ),
        (
            ("applications:", "application:"),
            14,
            "application: unknown key 'application' (expected one of: repositories, stages, applications, admins, "
            "notifications)",
        ),
    ],
)
def test_it_names_the_line_and_the_problem(change, line, message):
    error = error_of(DESIGN_SKETCH.replace(*change))
    assert (error.path, error.line, error.message) == ("catalog.yaml", line, message)
    assert str(error) == f"catalog.yaml:{line}: {message}"


def test_it_refuses_a_stage_referenced_but_not_declared():
    text = DESIGN_SKETCH + "      stages: [staging, qa]\n"
    error = error_of(text)
    assert error.line == 25
    assert error.message == "application 'billing': stage 'qa' is not declared (declared: staging, production)"
    text = DESIGN_SKETCH + "      overrides: {prod: {path: x.yaml}}\n"
    assert error_of(text).message == (
        "application 'billing': overrides stage 'prod' is not declared (declared: staging, production)"
    )


def test_it_refuses_duplicate_applications():
    text = DESIGN_SKETCH + "    - name: billing\n      path: x.yaml\n"
    error = error_of(text)
    assert (error.line, error.message) == (25, "applications.items[1]: duplicate application 'billing'")


def test_it_refuses_an_item_without_a_version_locator():
    text = (
        DESIGN_SKETCH.replace('    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n', "")
        .replace(
            '  discover: "{stage}/{app}/kustomization.yaml"   # optional: every folder matching is an app\n',
            "",
        )
        .replace("      version: {kind: helm-values, key: image.tag}\n", "")
    )
    error = error_of(text)
    assert (
        error.message
        == "application 'billing': no version locator for stage 'staging' (set version, or defaults.version)"
    )


def test_it_reports_invalid_yaml_with_its_line():
    error = error_of("repositories:\n  - name: x\n    url: [unclosed\nstages: []\n")
    assert error.line == 4
    assert error.message.startswith("invalid YAML: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty; expected repositories, stages and applications"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        (
            "repositories: []\nstages: []\n",
            "repositories: List should have at least 1 item after validation, not 0",
        ),
    ],
)
def test_it_refuses_files_that_are_not_a_catalogue(text, message):
    assert error_of(text).message == message


def test_it_names_a_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path}/nope.yaml: file not found")):
        catalog_load(tmp_path / "nope.yaml")


def test_it_rereads_the_file_only_when_it_changes(tmp_path: Path):
    path = tmp_path / "catalog.yaml"
    path.write_text(DESIGN_SKETCH)
    first = catalog_get(path)
    assert catalog_get(path) is first
    path.write_text(DESIGN_SKETCH.replace("branch: main", "branch: trunk"))
    second = catalog_get(path)
    assert second is not first
    assert second.repository("platform").branch == "trunk"
    assert second.fingerprint != first.fingerprint
