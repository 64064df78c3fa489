"""The stage graph: upstreams in the catalogue, each cell's relation to its upstream(s), promotion
paths along the graph's edges, and downgrades refused unless explicitly allowed.

The repository is laid out the way teams with regional production clusters keep it: one
kustomize base per application and one overlay per stage (`apps/<app>/overlays/<stage>/`), with
staging fanning out to prod-eu and prod-us. checkout is tagged `v<semver>`, search by Git sha
(ordered by when each tag first appeared)."""

import io
import json
import textwrap
import time
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from promotions.accounts.tokens import apitoken_create
from promotions.catalogue.loader import catalog_load, catalog_parse
from promotions.errors import ConfigError
from promotions.matrix.document import stored_matrix_document
from promotions.matrix.refresh import matrix_refresh
from promotions.matrix.relation import version_compare
from promotions.models import AuditEvent, Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.permissions import Denied
from promotions.workflow.request import PromotionError, promotion_request
from promotions.workflow.rollback import promotion_rollback
from tests.builders import ALICE, BOB, at

State = Promotion.State
REGISTRY = "registry.acme.example"

FANOUT = """\
    repositories:
      - {name: platform, url: "{url}", branch: main}
    admins: [release-managers]
    stages:
      - {name: dev}
      - {name: staging}
      - {name: prod-eu, upstream: [staging]}
      - {name: prod-us, upstream: [staging]}
    applications:
      defaults:
        path: "apps/{app}/overlays/{stage}/kustomization.yaml"
        version: {kind: kustomize-image, image: "registry.acme.example/{app}"}
      discover: "apps/{app}/overlays/{stage}/kustomization.yaml"
"""


def overlay(app: str, tag: str, *, region: str = "") -> str:
    """A stage overlay of `app`'s base, pinning its image tag (and labelling the region)."""
    text = textwrap.dedent(f"""\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources:
          - ../../base
        images:
          - name: {REGISTRY}/{app}
            newTag: {tag}
        """)
    labels = f"labels:\n  - pairs: {{topology.kubernetes.io/region: {region}}}\n" if region else ""
    return text + labels


def base(app: str) -> dict[str, str]:
    deployment = f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {app}}}
        spec:
          selector: {{matchLabels: {{app.kubernetes.io/name: {app}}}}}
          template:
            metadata: {{labels: {{app.kubernetes.io/name: {app}}}}}
            spec:
              containers:
                - name: {app}
                  image: {REGISTRY}/{app}:latest
        """
    return {
        f"apps/{app}/base/deployment.yaml": textwrap.dedent(deployment),
        f"apps/{app}/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    }


REGIONS = {"prod-eu": "eu-west-1", "prod-us": "us-east-1"}


def stage_files(app: str, versions: dict[str, str]) -> dict[str, str]:
    return {
        f"apps/{app}/overlays/{stage}/kustomization.yaml": overlay(app, tag, region=REGIONS.get(stage, ""))
        for stage, tag in versions.items()
    }


def read(path) -> None:
    matrix_refresh(catalog=catalog_load(path))


@pytest.fixture
def fanout(repo, write_catalog, db):
    """checkout v1.5.0 released to dev, staging and prod-us, prod-eu still on v1.4.2; search's
    newer build (git-5d6e7f8) only in dev."""
    files = {**base("checkout"), **base("search")}
    files |= stage_files("checkout", dict.fromkeys(("dev", "staging", "prod-eu", "prod-us"), "v1.4.2"))
    files |= stage_files("search", dict.fromkeys(("dev", "staging", "prod-eu", "prod-us"), "git-1a2b3c4"))
    repo.commit(files, "Bootstrap the platform", author=BOB, date=at(0))
    repo.commit(stage_files("checkout", dict.fromkeys(("dev", "staging", "prod-us"), "v1.5.0")),
                "Release checkout v1.5.0", author=ALICE, date=at(1))  # fmt: skip
    repo.commit(stage_files("search", {"dev": "git-5d6e7f8"}), "Build search 5d6e7f8", author=ALICE, date=at(1.5))
    path = write_catalog(FANOUT, url=repo.url)
    read(path)
    return path


@pytest.fixture
def rolled_back(fanout, repo):
    """checkout v1.5.0 in both regions, then staging rolled back to v1.4.2 (a bad release)."""
    repo.commit(stage_files("checkout", {"prod-eu": "v1.5.0"}), "Promote checkout v1.5.0 to prod-eu", date=at(2))
    repo.commit(stage_files("checkout", {"staging": "v1.4.2"}), "Roll back checkout in staging", date=at(3))
    read(fanout)
    return fanout


def relations(path, app: str) -> dict[str, tuple[str | None, list[str]]]:
    document = stored_matrix_document(catalog=catalog_load(path))
    cells = next(a for a in document["applications"] if a["name"] == app)["stages"]
    return {stage: (cell["relation"], cell["upstream"]) for stage, cell in cells.items()}


def request(path, apps, source, target, **kwargs) -> Promotion:
    return promotion_request(
        catalog=catalog_load(path), applications=apps, from_stage=source, to_stage=target, **kwargs
    )


def run(promotion: Promotion) -> Promotion:
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


# -- the graph in the catalogue ----------------------------------------------------------------


def parse(stages: str):  # type: ignore[no-untyped-def]
    text = "repositories: [{name: platform, url: x}]\nstages:\n" + textwrap.dedent(stages) + "applications: {}\n"
    return catalog_parse(text, path="catalog.yaml")


def test_it_keeps_a_plain_list_a_straight_line():
    catalog = parse("  - {name: dev}\n  - {name: staging}\n  - {name: production}\n")
    assert [catalog.upstreams(s) for s in catalog.stage_names] == [[], ["dev"], ["staging"]]


def test_it_orders_stages_by_the_graph_whatever_the_list_order():
    catalog = parse("""\
          - {name: prod-us, upstream: [staging]}
          - {name: dev, upstream: []}
          - {name: staging, upstream: [dev]}
          - {name: prod-eu, upstream: [staging], promotion: {from: [prod-us]}}
        """)
    assert catalog.stage_names == ["dev", "staging", "prod-us", "prod-eu"]
    assert catalog.upstreams("prod-us") == ["staging"]
    assert catalog.promotion_sources("prod-eu") == ["staging", "prod-us"]
    assert catalog.upstreams("dev") == []  # first in graph order; without `upstream: []`, prod-us (a cycle)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (
            "  - {name: dev}\n  - name: staging\n    upstream: [dve]\n",
            "catalog.yaml:5: stage 'staging': upstream: stage 'dve' is not declared (declared: dev, staging)",
        ),
        (
            "  - {name: dev}\n  - name: staging\n    upstream:\n      - dev\n      - staging\n",
            "catalog.yaml:7: stage 'staging': upstream names the stage itself",
        ),
        (
            "  - {name: a, upstream: [c]}\n  - {name: b, upstream: [a]}\n  - {name: c, upstream: [b]}\n",
            "catalog.yaml:4: stages: the upstreams form a cycle: b → c → a → b",
        ),
        (
            "  - {name: dev}\n  - name: prod\n    promotion: {from: [qa]}\n",
            "catalog.yaml:5: stage 'prod': from: stage 'qa' is not declared (declared: dev, prod)",
        ),
    ],
)
def test_it_refuses_a_broken_graph_naming_file_and_line(stages, message):
    with pytest.raises(ConfigError) as refused:
        parse(stages)
    assert str(refused.value) == message


# -- relations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        ("v1.10.0", "v1.9.0"),  # numbers, not text
        ("1.0.0", "1.0.0-rc.1"),  # a release after its pre-releases
        ("1.0.0-alpha.1", "1.0.0-alpha"),  # more identifiers after fewer
        ("1.0.0-beta", "1.0.0-alpha.1"),
        ("1.0.0-beta.11", "1.0.0-beta.2"),  # numeric identifiers as numbers
        ("1.0.0-rc.1", "1.0.0-beta.11"),
        ("2.0.0", "v1.99.99"),  # with and without the v prefix
    ],
)
def test_it_orders_semver_by_its_rules(newer, older):
    assert (version_compare(newer, older, {}), version_compare(older, newer, {})) == (1, -1)


def test_it_orders_other_versions_by_when_they_first_appeared():
    seen = {"git-5d6e7f8": at(2), "git-1a2b3c4": at(0), "1.2.0": at(5)}
    assert version_compare("git-5d6e7f8", "git-1a2b3c4", seen) == 1
    assert version_compare("1.2.0", "git-5d6e7f8", seen) == 1  # one side is not semver: by date
    assert version_compare("git-5d6e7f8", "never-seen", seen) is None
    assert version_compare("1.0.0+build.1", "1.0.0+build.2", {}) is None  # equal precedence, not the same
    rolled_back = {("git-1a2b3c4", "git-5d6e7f8")}  # a rollback from 5d6e7f8 to 1a2b3c4 landed
    assert (
        version_compare("git-1a2b3c4", "git-5d6e7f8", {"git-1a2b3c4": at(9), "git-5d6e7f8": at(2)}, rolled_back) == -1
    )


def test_a_fan_out_pipeline_relates_each_cell_to_its_own_upstream(fanout, repo):
    assert relations(fanout, "checkout") == {
        "dev": (None, []),
        "staging": ("same", ["dev"]),
        "prod-eu": ("behind", ["staging"]),
        "prod-us": ("same", ["staging"]),  # not compared with prod-eu, its neighbour in the list
    }
    assert relations(fanout, "search") == {
        "dev": (None, []),
        "staging": ("behind", ["dev"]),  # git-5d6e7f8 appeared after git-1a2b3c4
        "prod-eu": ("same", ["staging"]),
        "prod-us": ("same", ["staging"]),
    }
    assert run(request(fanout, ["checkout"], "staging", "prod-eu")).state == State.COMMITTED
    assert relations(fanout, "checkout")["prod-eu"] == ("same", ["staging"])

    rollback = run(promotion_rollback(catalog=catalog_load(fanout), application="checkout", stage="staging"))
    assert (rollback.state, rollback.items.get().to_version) == (State.COMMITTED, "v1.4.2")
    assert relations(fanout, "checkout") == {
        "dev": (None, []),
        "staging": ("behind", ["dev"]),
        "prod-eu": ("ahead", ["staging"]),
        "prod-us": ("ahead", ["staging"]),
    }


def test_a_rollback_teaches_the_order_of_sha_tags_that_dates_would_get_wrong(fanout, alice):
    """Once every stage runs git-5d6e7f8, rolling staging back to git-1a2b3c4 commits that old tag
    today: by date alone it would look newest. The landed rollback says it is older."""
    for source, target in (("dev", "staging"), ("staging", "prod-eu"), ("staging", "prod-us")):
        assert run(request(fanout, ["search"], source, target)).state == State.COMMITTED
    rollback = run(promotion_rollback(catalog=catalog_load(fanout), application="search", stage="staging"))
    assert (rollback.state, rollback.items.get().to_version) == (State.COMMITTED, "git-1a2b3c4")
    assert relations(fanout, "search") == {
        "dev": (None, []),
        "staging": ("behind", ["dev"]),
        "prod-eu": ("ahead", ["staging"]),
        "prod-us": ("ahead", ["staging"]),
    }
    with pytest.raises(PromotionError, match=r"^downgrade: search git-5d6e7f8 → git-1a2b3c4 would install an older"):
        request(fanout, ["search"], "staging", "prod-eu", requested_by=alice)


def test_matrix_json_carries_the_relation_and_the_upstream(rolled_back):
    out = io.StringIO()
    call_command("matrix", "--json", "--config", str(rolled_back), stdout=out)
    document = json.loads(out.getvalue())
    assert document["stages"] == ["dev", "staging", "prod-eu", "prod-us"]
    checkout = next(a for a in document["applications"] if a["name"] == "checkout")["stages"]
    assert (checkout["prod-us"]["relation"], checkout["prod-us"]["upstream"]) == ("ahead", ["staging"])
    assert document == stored_matrix_document(catalog=catalog_load(rolled_back))  # the API's, the same


def test_the_matrix_table_marks_each_cell_against_its_own_upstream(rolled_back):
    out = io.StringIO()
    call_command("matrix", "--config", str(rolled_back), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["APPLICATION", "DEV", "STAGING", "PROD-EU", "PROD-US"]
    assert lines[1].split() == ["checkout", "v1.5.0", "v1.4.2*", "v1.5.0^", "v1.5.0^"]
    assert lines[2].split() == ["search", "git-5d6e7f8", "git-1a2b3c4*", "git-1a2b3c4", "git-1a2b3c4"]
    assert lines[4].endswith("· * behind its upstream, ^ ahead, ~ diverged")


def test_a_stage_whose_upstreams_disagree_is_diverged(repo, write_catalog, db):
    """Two parallel test stages (integration, performance) feed release."""
    path = write_catalog(
        """\
        repositories:
          - {name: platform, url: "{url}"}
        stages:
          - {name: dev}
          - {name: integration, upstream: [dev]}
          - {name: performance, upstream: [dev]}
          - {name: release, upstream: [integration, performance]}
        applications:
          items:
            - name: ledger
              path: "charts/ledger/values-{stage}.yaml"
              version: {kind: helm-values, key: image.tag}
        """,
        url=repo.url,
    )
    values = {"dev": "2.3.0", "integration": "2.3.0", "performance": "2.2.0", "release": "2.2.0"}
    repo.commit({f"charts/ledger/values-{s}.yaml": f"image:\n  tag: {v}\n" for s, v in values.items()}, "Ledger")
    read(path)
    assert relations(path, "ledger") == {
        "dev": (None, []),
        "integration": ("same", ["dev"]),
        "performance": ("behind", ["dev"]),
        "release": ("diverged", ["integration", "performance"]),
    }
    repo.commit({"charts/ledger/values-performance.yaml": "image:\n  tag: 2.3.0\n"}, "Performance tested")
    read(path)
    assert relations(path, "ledger")["release"] == ("behind", ["integration", "performance"])


# -- the page ----------------------------------------------------------------------------------


def signed_in(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("dashboard"))  # the CSRF cookie, as a browser gets it
    return client


def row(html: str, app: str) -> str:
    return html[html.index(f'href="/apps/{app}/"') :].split("</tr>")[0]


def test_the_page_draws_the_graph_and_offers_only_upgrades(rolled_back, alice):
    html = signed_in(alice).get(reverse("dashboard")).content.decode()
    assert '<th>prod-eu <span class="from" title="takes releases from staging">← staging</span>' in html
    checkout = row(html, "checkout")
    assert checkout.count('<span class="rel">▲ ahead</span>') == 2  # written out, not only coloured
    assert checkout.count('<td class="ahead"') == 2
    assert "ahead of staging (v1.4.2): newer than its upstream" in checkout
    # One "promote" link: staging behind dev; never prod-eu/prod-us from staging (a downgrade).
    assert checkout.count('class="promote"') == 1
    assert 'href="/promote/?app=checkout&amp;from=dev&amp;to=staging"' in checkout
    # "promote all" per edge: staging's from dev has both applications; the regions have none.
    assert 'href="/promote/?to=staging&amp;from=dev&amp;app=checkout&amp;app=search"' in html
    assert "to=prod-eu" not in html
    assert "to=prod-us" not in html


def test_the_dashboard_costs_the_same_queries_for_more_applications(repo, write_catalog, alice, db):
    path = write_catalog(FANOUT, url=repo.url)
    client = signed_in(alice)

    def queries(count: int) -> int:
        files = {}
        for n in range(count):
            files |= stage_files(f"app-{n:02}", {"dev": "1.1.0", "staging": "1.0.0", "prod-eu": "1.0.0",
                                                 "prod-us": "0.9.0"})  # fmt: skip
        repo.commit(files, f"{count} applications")
        read(path)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("dashboard")).status_code == 200
        return len(captured)

    assert queries(2) == queries(20)


# -- promotion paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "source", "target", "message"),
    [
        ("checkout", "prod-us", "prod-eu", "prod-eu takes promotions only from staging, not from prod-us"),  # sideways
        ("search", "dev", "prod-eu", "prod-eu takes promotions only from staging, not from dev"),  # skipping staging
        ("search", "staging", "dev", "dev takes promotions from no stage (a first stage: releases come from CI)"),
    ],
)
def test_a_promotion_off_the_graphs_edges_is_refused_naming_the_allowed_sources(fanout, alice, app, source, target,
                                                                                message):  # fmt: skip
    with pytest.raises(PromotionError) as refused:
        request(fanout, [app], source, target, requested_by=alice)
    assert str(refused.value).startswith(message)
    assert str(refused.value).endswith("; an admin may override")
    assert not Promotion.objects.exists()


def test_a_stage_may_take_promotions_sideways_when_it_lists_them(fanout, alice):
    fanout.write_text(fanout.read_text().replace("{name: prod-eu, upstream: [staging]}",
                                                 "{name: prod-eu, upstream: [staging], promotion: {from: [prod-us]}}"))  # fmt: skip
    promotion = run(request(fanout, ["checkout"], "prod-us", "prod-eu", requested_by=alice))
    assert (promotion.state, promotion.items.get().to_version) == (State.COMMITTED, "v1.5.0")
    assert "path_override" not in promotion.metadata


def test_an_admin_may_skip_a_stage_with_a_written_reason_and_it_is_audited(fanout, alice, bob):
    with pytest.raises(Denied, match="only an admin may override the promotion path"):
        request(fanout, ["search"], "dev", "prod-eu", requested_by=alice, override_reason="urgent")
    promotion = request(fanout, ["search"], "dev", "prod-eu", requested_by=bob, override_reason="CVE-2026-4242 fix")
    assert promotion.metadata["path_override"] == {"by": "bob", "reason": "CVE-2026-4242 fix", "path": "dev → prod-eu"}
    event = AuditEvent.objects.get(action="promotion.path_override")
    assert (event.actor, event.message, event.promotion_id, event.stage) == (
        "bob", "CVE-2026-4242 fix", promotion.pk, "prod-eu"
    )  # fmt: skip
    assert run(promotion).state == State.COMMITTED


def test_the_promote_page_offers_the_path_override_to_an_admin_only(fanout, alice, bob):
    query = {"app": "search", "from": "dev", "to": "prod-eu"}
    refused = signed_in(alice).get(reverse("promote"), query)
    assert refused.status_code == 400
    assert "prod-eu takes promotions only from staging, not from dev" in refused.content.decode()
    admin = signed_in(bob)
    page = admin.get(reverse("promote"), query).content.decode()
    assert '<span class="add">+    newTag: git-5d6e7f8</span>' in page
    assert "Path override: why this goes dev → prod-eu" in page
    token = admin.cookies["csrftoken"].value
    response = admin.post(reverse("promote"), query | {"override_reason": "hotfix"}, headers={"X-CSRFToken": token})
    promotion = Promotion.objects.get()
    assert response.status_code == 302
    assert "Promotion path overridden by bob (dev → prod-eu): “hotfix”" in admin.get(response.url).content.decode()
    assert promotion.metadata["path_override"]["reason"] == "hotfix"


def test_rollbacks_and_releases_have_no_source_to_check(fanout, alice):
    rollback = promotion_rollback(catalog=catalog_load(fanout), application="checkout", stage="prod-us")
    assert (rollback.from_stage, rollback.kind) == ("", Promotion.Kind.ROLLBACK)
    # A rollback is a downgrade by nature: marked, never refused, not audited as one.
    assert rollback.metadata["downgrade"] == [{"application": "checkout", "from": "v1.5.0", "to": "v1.4.2"}]
    assert not AuditEvent.objects.filter(action="promotion.downgrade").exists()


def test_chat_promotes_from_the_stages_upstream_not_its_neighbour_in_the_list(fanout, client, settings, alice):
    from promotions.inbound.signatures import slack_signature
    from promotions.models import Profile

    settings.SLACK_SIGNING_SECRET = "slack-test-signing-secret"
    Profile.objects.create(user=alice, chat_user_id="U42")
    body = urlencode({"command": "/portal", "text": "promote checkout to prod-us", "user_id": "U42",
                      "user_name": "al", "team_id": "T1"}).encode()  # fmt: skip
    stamp = str(int(time.time()))
    signature = slack_signature("slack-test-signing-secret", stamp, body)
    answer = client.post("/chatops/slack/", body, content_type="application/x-www-form-urlencoded",
                         headers={"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature})  # fmt: skip
    promotion = Promotion.objects.get()
    assert answer.json()["text"].startswith("alice requested: Promote checkout v1.5.0 to prod-us.")
    assert promotion.from_stage == "staging"  # its upstream, not prod-eu (listed just before it)


# -- downgrades --------------------------------------------------------------------------------


def test_a_downgrade_is_refused_then_allowed_explicitly_and_marked(rolled_back, alice):
    with pytest.raises(PromotionError) as refused:
        request(rolled_back, ["checkout"], "staging", "prod-eu", requested_by=alice)
    assert str(refused.value) == (
        "downgrade: checkout v1.5.0 → v1.4.2 would install an older version than prod-eu runs; allow it explicitly "
        "(allow_downgrade: true in the API, --allow-downgrade on the command line, the confirmation on the page)"
    )
    promotion = run(request(rolled_back, ["checkout"], "staging", "prod-eu", requested_by=alice, allow_downgrade=True))
    assert promotion.state == State.COMMITTED
    assert promotion.metadata["downgrade"] == [{"application": "checkout", "from": "v1.5.0", "to": "v1.4.2"}]
    event = AuditEvent.objects.get(action="promotion.downgrade")
    assert (event.actor, event.message) == ("alice", "downgrade allowed: checkout v1.5.0 → v1.4.2")


def test_an_upgrade_is_not_a_downgrade(rolled_back, alice):
    promotion = request(rolled_back, ["checkout"], "dev", "staging", requested_by=alice)
    assert "downgrade" not in promotion.metadata


def promote(*args: str) -> tuple[int, dict]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("promote", *args, "--json", stdout=out, stderr=err)
    except SystemExit as exit:
        code = int(exit.code or 0)
    return code, json.loads(out.getvalue())


def test_the_command_line_refuses_a_downgrade_unless_allowed(rolled_back, alice):
    code, document = promote("checkout", "--from", "staging", "--to", "prod-us", "--as", "alice")
    assert (code, document["state"]) == (2, "refused")
    assert document["error"].startswith("downgrade: checkout v1.5.0 → v1.4.2 would install an older version")
    code, document = promote("checkout", "--from", "staging", "--to", "prod-us", "--as", "alice",
                             "--allow-downgrade", "--sync")  # fmt: skip
    assert (code, document["state"], document["applications"][0]["to"]) == (0, "committed", "v1.4.2")
    assert Promotion.objects.get().metadata["downgrade"][0]["to"] == "v1.4.2"


def test_the_api_refuses_a_downgrade_unless_allow_downgrade_is_true(rolled_back, alice):
    _, raw = apitoken_create(user=alice, name="tests")
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    body = {"applications": ["checkout"], "from_stage": "staging", "to_stage": "prod-eu"}
    refused = api.post("/api/v1/promotions", body, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("downgrade: checkout v1.5.0 → v1.4.2")
    accepted = api.post("/api/v1/promotions", body | {"allow_downgrade": True}, content_type="application/json")
    assert accepted.status_code == 202
    assert Promotion.objects.get(pk=accepted.json()["id"]).metadata["downgrade"][0]["from"] == "v1.5.0"
    stages = {s["name"]: s for s in api.get("/api/v1/stages").json()}
    assert (stages["prod-us"]["upstream"], stages["prod-us"]["position"]) == (["staging"], 3)


def test_the_promote_page_asks_to_confirm_a_downgrade(rolled_back, alice):
    client = signed_in(alice)
    query = {"app": "checkout", "from": "staging", "to": "prod-eu"}
    page = client.get(reverse("promote"), query).content.decode()
    assert "▼ Downgrade: checkout v1.5.0 → v1.4.2: prod-eu runs a newer version than this would install." in page
    assert '<input type="checkbox" name="allow_downgrade" value="1" required' in page
    token = {"X-CSRFToken": client.cookies["csrftoken"].value}
    refused = client.post(reverse("promote"), query, headers=token)
    assert refused.status_code == 400
    assert "would install an older version than prod-eu runs" in refused.content.decode()
    assert not Promotion.objects.exists()
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(alice)
    assert forged.post(reverse("promote"), query | {"allow_downgrade": "1"}).status_code == 403  # no CSRF token
    assert not Promotion.objects.exists()
    response = client.post(reverse("promote"), query | {"allow_downgrade": "1"}, headers=token)
    assert response.status_code == 302
    shown = client.get(response.url).content.decode()
    assert "▼ Downgrade, allowed explicitly: checkout v1.5.0 → v1.4.2" in shown
