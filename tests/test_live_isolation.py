"""One bad application (a folder name no cluster can be searched for, a selector that breaks
once rendered) is its own cell's reason, never the stage's; stale live state shows as stale
and moves no promotion. Through the real kubernetes client over HTTP, against sandbox/kube."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from promotions.accounts.tokens import apitoken_create
from promotions.catalogue.loader import catalog_load
from promotions.cluster.labels import LABEL_VALUE_RULE
from promotions.matrix.live import STAGE_FAILED
from promotions.matrix.refresh import matrix_refresh
from promotions.models import LiveState, Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from promotions.workflow.rollout import promotions_follow_live
from sandbox.demo_cluster import desired_from_git
from sandbox.kube import KubeStandIn, Operator
from tests.builders import bind_clusters, kustomization
from tests.test_live import CLUSTERS, refresh, state

State = Promotion.State
BAD = "<img src=x onerror=alert(7)>"
ESCAPED = "&lt;img src=x onerror=alert(7)&gt;"
# A listed application whose own selector is valid as written (checked with {app} = "app")
# but not once its name is put in: a label value cannot end with "-".
ITEMS = """\
  items:
    - name: billing-
      live: {selector: "app.kubernetes.io/part-of={app}"}
"""


@pytest.fixture
def kube():
    with KubeStandIn(token="portal-token", clusters=CLUSTERS) as standin:
        yield standin


@pytest.fixture
def live_pipeline(pipeline, kube, tmp_path, repo):
    """conftest's pipeline with staging and production in clusters, plus two applications no
    cluster can be searched for: a folder named like an HTML tag, and billing- (listed)."""
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", clusters=list(CLUSTERS))
    pipeline.write_text(bind_clusters(pipeline, kubeconfig, CLUSTERS) + ITEMS)
    files = {}
    for app in (BAD, "billing-"):
        files |= {f"{s}/{app}/kustomization.yaml": kustomization(f"ghcr.io/acme/{app}", "1.0.0") for s in CLUSTERS}
    repo.commit(files, "two applications the clusters cannot be searched for")
    matrix_refresh(catalog=catalog_load(pipeline))
    return pipeline


@pytest.fixture
def operator(live_pipeline, kube, tmp_path):
    """Runs what Git declares, except the two applications no real cluster could hold."""
    declared = desired_from_git(catalog_load(live_pipeline), tmp_path / "operator")

    def desired(cluster: str) -> dict[tuple[str, str], tuple[str, str]]:
        return {key: image for key, image in declared(cluster).items() if key[1] in ("web", "api")}

    op = Operator(kube, desired, delay=0, step=0)
    op.sync_now()
    return op


def promoted_to_staging(path) -> Promotion:
    promotion = promotion_request(catalog=catalog_load(path), applications=["web"], from_stage="dev",
                                  to_stage="staging")  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


def make_stale(stage: str, minutes: int = 14) -> None:
    LiveState.objects.filter(stage=stage).update(observed_at=timezone.now() - timedelta(minutes=minutes))


def test_it_reads_the_rest_of_the_stage_when_one_application_cannot_be_searched_for(live_pipeline, operator):
    report = refresh(live_pipeline)
    assert {read.stage: read.error for read in report.stages} == {"staging": "", "production": ""}
    for stage in CLUSTERS:
        assert (state("web", stage).health, state("api", stage).health) == ("Healthy", "Healthy")
        bad = state(BAD, stage)
        assert (bad.health, bad.sync, bad.versions) == ("Unknown", "Unknown", [])
        assert bad.reason == (
            f"application name '{BAD}' is not a valid Kubernetes label value ({LABEL_VALUE_RULE}), so the default "
            f"selector app.kubernetes.io/name={BAD} cannot match; set live.selector or live.name for it"
        )
        billing = state("billing-", stage)
        assert billing.health == "Unknown"
        assert billing.reason.startswith("application 'billing-': its live selector is not valid: 'billing-' in ")
        assert billing.reason.endswith("; fix live.selector or set live.name")


def test_it_narrows_the_lists_by_the_label_key_of_the_applications_it_can_read(live_pipeline, operator, kube):
    kube.clear_calls()
    refresh(live_pipeline)
    assert len(kube.calls) == 2 * 3  # settled: the workload kinds only (no ReplicaSets, no Pods)
    assert {call.query.get("labelSelector") for call in kube.calls} == {"app.kubernetes.io/name"}


def test_it_follows_a_promotion_of_a_healthy_application_next_to_a_bad_one(live_pipeline, operator):
    promotion = promoted_to_staging(live_pipeline)
    assert promotion.state == State.SYNCING  # the cluster was read right after the commit
    operator.sync_now()
    refresh(live_pipeline)
    promotion.refresh_from_db()
    assert promotion.state == State.DEPLOYED
    assert promotion.events.last().message == "staging runs web 1.1.0 on 2/2"


def test_it_keeps_the_cells_of_a_stage_whose_cluster_cannot_be_read_for_the_bad_application(
    live_pipeline, operator, kube
):
    kube.token = "rotated"
    refresh(live_pipeline)
    assert state("web", "production").reason.startswith("unauthorized: production's cluster rejected")
    assert state(BAD, "production").reason.startswith(f"application name '{BAD}' is not a valid")


def test_it_keeps_an_unexpected_error_with_one_workload_in_that_cell(live_pipeline, operator, kube):
    api = kube.get("production", "Deployment", "api", "api")
    api["spec"]["replicas"] = "many"  # nothing a real API server would accept: a bug's stand-in
    kube.apply("production", api)
    refresh(live_pipeline)
    assert (state("api", "production").health, state("api", "production").reason) == (
        "Unknown",
        "internal error reading this application; see the portal's logs",
    )
    assert state("web", "production").health == "Healthy"


def test_it_stores_every_other_stage_and_follows_promotions_when_one_stage_fails_unexpectedly(
    live_pipeline, operator, kube, caplog
):
    promotion = promoted_to_staging(live_pipeline)
    kube.inject("production", path="deployments", status=200, body={"items": ["not an object"]}, times=None)
    operator.sync_now()
    report = refresh(live_pipeline)
    assert {read.stage: read.error for read in report.stages}["production"] == STAGE_FAILED
    assert {s.reason for s in LiveState.objects.filter(stage="production")} == {STAGE_FAILED}
    assert state("web", "staging").health == "Healthy"
    promotion.refresh_from_db()
    assert promotion.state == State.DEPLOYED
    assert "live state of production: reading failed" in caplog.text


def test_it_shows_stale_live_state_greyed_with_its_age_never_as_current_health(live_pipeline, operator, client, alice):
    refresh(live_pipeline)
    make_stale("production")
    client.force_login(alice)
    html = client.get(reverse("dashboard")).content.decode()
    assert html.count('<span class="live stale"><i></i>Healthy 14m ago — stale</span>') == 2  # web and api
    assert html.count('class="live h-healthy s-synced"') == 2  # staging's, fresh
    assert "cluster 14m ago — stale, not read since: Healthy, Synced; runs 1.0.0 (2/2 ready)" in html


def test_it_says_stale_in_the_matrix_document_of_the_api_and_of_matrix_json(live_pipeline, operator, alice):
    refresh(live_pipeline)
    make_stale("production")
    out, err = io.StringIO(), io.StringIO()
    call_command("matrix", "--json", stdout=out, stderr=err)
    _, token = apitoken_create(user=alice, name="tests")
    api = Client(headers={"Authorization": f"Bearer {token}"}).get("/api/v1/matrix").json()
    for document in (json.loads(out.getvalue()), api):
        web = next(a for a in document["applications"] if a["name"] == "web")["stages"]
        assert (web["production"]["live"]["stale"], web["staging"]["live"]["stale"]) == (True, False)
        assert web["production"]["live"]["health"] == "Healthy"
        assert web["production"]["live"]["observed_at"] < web["staging"]["live"]["observed_at"]
        assert web["dev"]["live"] is None


def test_it_does_not_verify_a_promotion_on_stale_live_state(live_pipeline, operator):
    promotion = promoted_to_staging(live_pipeline)
    LiveState.objects.filter(stage="staging", application="web").update(versions=["1.1.0"], version="1.1.0")
    make_stale("staging")
    promotions_follow_live(catalog=catalog_load(live_pipeline))
    promotion.refresh_from_db()
    assert promotion.state == State.SYNCING  # stale: what ran 14 minutes ago says nothing about now
    operator.sync_now()
    refresh(live_pipeline)
    promotion.refresh_from_db()
    assert promotion.state == State.DEPLOYED
    make_stale("staging")
    promotions_follow_live(catalog=catalog_load(live_pipeline))  # soak 0 s: fresh and Healthy would verify
    promotion.refresh_from_db()
    assert promotion.state == State.DEPLOYED
    refresh(live_pipeline)
    promotion.refresh_from_db()
    assert promotion.state == State.VERIFIED


def test_it_escapes_the_bad_name_and_lists_the_warnings_on_the_dashboard(live_pipeline, operator, client, alice):
    refresh(live_pipeline)
    client.force_login(alice)
    html = client.get(reverse("dashboard")).content.decode()
    assert BAD not in html
    assert f'<a href="/apps/%3Cimg%20src=x%20onerror=alert(7)%3E/">{ESCAPED}</a>' in html
    assert "2 catalogue warnings" in html
    assert f"<li>discovered application: application name &#x27;{ESCAPED}&#x27; is not a valid" in html
    assert f"{live_pipeline}:13: application &#x27;billing-&#x27;: its live selector is not valid" in html


def test_it_warns_about_listed_names_that_are_not_label_values_with_file_and_line(write_catalog):
    long_name = "a" * 64
    path = write_catalog(f"""\
        repositories:
          - {{name: platform, url: "file:///nowhere", branch: main}}
        stages:
          - {{name: dev}}
          - {{name: staging, cluster: {{context: staging, namespace: shop}}}}
        applications:
          defaults:
            path: "{{stage}}/{{app}}/kustomization.yaml"
            version: {{kind: kustomize-image, image: "ghcr.io/acme/{{app}}"}}
          items:
            - name: web
            - name: payments-
            - name: {long_name}
            - name: cart_
              live: {{kind: Deployment, name: cart}}
        """)
    catalog = catalog_load(path)
    assert catalog.warnings == (
        f"{path}:12: application name 'payments-' is not a valid Kubernetes label value ({LABEL_VALUE_RULE}), "
        "so the default selector app.kubernetes.io/name=payments- cannot match; set live.selector or live.name for it",
        f"{path}:13: application name '{long_name}' is not a valid Kubernetes label value ({LABEL_VALUE_RULE}), "
        f"so the default selector app.kubernetes.io/name={long_name} cannot match; "
        "set live.selector or live.name for it",
    )


def test_it_prints_the_warnings_of_matrix_on_stderr(live_pipeline, operator):
    out, err = io.StringIO(), io.StringIO()
    call_command("matrix", stdout=out, stderr=err)
    warnings = err.getvalue().splitlines()
    assert warnings[0].startswith(f"warning: {live_pipeline}:13: application 'billing-': its live selector is not")
    assert warnings[1].startswith(f"warning: discovered application: application name '{BAD}' is not a valid")
    assert len(warnings) == 2
    assert BAD in out.getvalue()  # the table still lists it


def test_it_renders_stage_in_a_selector_per_stage(live_pipeline, operator, kube):
    live_pipeline.write_text(live_pipeline.read_text().replace(
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}',
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n'
        '    live: {selector: "app.kubernetes.io/name={app},app.kubernetes.io/instance={app}-{stage}"}',
    ))  # fmt: skip
    refresh(live_pipeline)
    assert state("web", "production").reason == (
        "no workload matching app.kubernetes.io/name=web,app.kubernetes.io/instance=web-production in namespace web"
    )
