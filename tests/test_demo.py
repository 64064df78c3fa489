"""`manage.py demo`: a believable repository in every layout, idempotent, with three users."""

import io
import json
import re

from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from promotions.catalogue.loader import catalog_load
from promotions.models import StageVersion
from sandbox.gitrepo import RepoBuilder


def test_the_demo_builds_a_repository_catalogue_and_users_and_is_idempotent(db, data_dir, settings):
    out = io.StringIO()
    call_command("demo", stdout=out)
    config = data_dir / "demo" / "gitops-portal.yaml"
    head = RepoBuilder(data_dir / "demo" / "platform.git").head()
    call_command("demo", stdout=io.StringIO())
    assert RepoBuilder(data_dir / "demo" / "platform.git").head() == head  # not rebuilt

    catalog = catalog_load(config)
    assert catalog.stage_names == ["dev", "staging", "production"]
    defaults = catalog.applications.defaults
    kinds = {(item.version or defaults.version).kind for item in catalog.applications.items}
    kinds.add(defaults.version.kind)
    assert kinds == {"kustomize-image", "helm-values", "helmrelease-chart", "image", "yaml-path"}

    cells = list(StageVersion.objects.all())
    assert len({c.application for c in cells}) == 8
    assert [c for c in cells if c.error] == []
    assert len({c.author for c in cells if c.author}) >= 3
    assert any(c.path is None for c in cells)  # an application not yet in production
    printed = dict(re.findall(r"^\s+(\w+)\s+/\s+(\S+)", out.getvalue(), re.MULTILINE))
    assert sorted(printed) == ["admin", "alice", "bob", "carol"]
    for username, password in printed.items():
        assert authenticate(RequestFactory().post("/login/"), username=username, password=password) is not None


def test_the_demo_matrix_shows_a_promotion_backlog(db, data_dir, settings):
    call_command("demo", stdout=io.StringIO())
    settings.GITOPS_PORTAL_CONFIG = data_dir / "demo" / "gitops-portal.yaml"
    out = io.StringIO()
    call_command("matrix", "--json", stdout=out)
    document = json.loads(out.getvalue())
    behind = [
        app["name"]
        for app in document["applications"]
        if len({cell["version"] for cell in app["stages"].values() if cell["version"]}) > 1
    ]
    assert len(behind) >= 2


def test_the_demo_clusters_run_what_the_demo_repository_declares(db, data_dir, settings):
    from pathlib import Path

    from promotions.catalogue.loader import catalog_load
    from promotions.models import LiveState
    from promotions.workflow.rollout import live_refresh
    from sandbox.demo_cluster import start_demo_clusters

    call_command("demo", stdout=io.StringIO())
    catalog = catalog_load(data_dir / "demo" / "gitops-portal.yaml")
    kubeconfig = Path(catalog.kubeconfig_path("dev"))
    kube, operator = start_demo_clusters(catalog=catalog, data_dir=data_dir / "operator", kubeconfig=kubeconfig, port=0)
    try:
        report = live_refresh(catalog=catalog)
    finally:
        operator.stop()
        kube.stop()
    assert [r.error for r in report.stages] == ["", "", ""]
    states = {(s.application, s.stage): s for s in LiveState.objects.all()}
    assert len(states) == StageVersion.objects.filter(path__isnull=False).count()
    assert {s.health for s in states.values()} == {"Healthy"}
    assert {s.sync for (app, _), s in states.items() if app != "cert-manager"} == {"Synced"}
    assert {s.sync for (app, _), s in states.items() if app == "cert-manager"} == {"Unknown"}  # a chart version
