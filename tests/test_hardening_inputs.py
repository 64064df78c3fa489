"""Versions that are not versions: each locator kind refuses what it could not write truthfully,
with a 400 naming the rule, and nothing is stored."""

import re
import textwrap

import pytest

from promotions.accounts.tokens import apitoken_create
from promotions.catalogue.loader import catalog_load
from promotions.gitops.yaml.locators import CHART_RULE, OCI_RULE, TOKEN_RULE
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import PromotionError, promotion_request
from tests.builders import REPOSITORY

State = Promotion.State


@pytest.mark.parametrize("version", ["[1,2]", "|", '"quoted"', ".hidden", "-rc1", "a" * 129, "1.0 beta", "1.0+build"])
def test_it_refuses_an_image_tag_that_is_not_an_oci_tag(pipeline, version):
    with pytest.raises(PromotionError) as refused:
        promotion_request(catalog=catalog_load(pipeline), applications=["web"], from_stage="", to_stage="dev",
                          version=version)  # fmt: skip
    assert str(refused.value) == f"web in dev: version {version!r} is not {OCI_RULE}"
    assert not Promotion.objects.exists()


def test_it_answers_a_ci_release_with_a_bad_tag_with_a_400_naming_the_rule(pipeline, client, alice):
    _, token = apitoken_create(user=alice, name="ci")
    answer = client.post("/api/v1/releases", {"application": "web", "version": "[1,2]"}, content_type="application/json",
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["error"] == {"code": "refused", "message": f"web in dev: version '[1,2]' is not {OCI_RULE}",
                                      "details": {}}  # fmt: skip
    assert not Promotion.objects.exists()


HELM = """\
    stages: [{name: staging}, {name: production}]
    applications:
      items:
        - name: podinfo
          path: "apps/{stage}/podinfo.yaml"
          version: {kind: helmrelease-chart}
        - name: billing
          path: "apps/{stage}/billing-values.yaml"
          version: {kind: helm-values, key: image.tag}
"""


def helmrelease(version: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata: {{name: podinfo, namespace: podinfo}}
        spec:
          chart:
            spec:
              chart: podinfo
              version: "{version}"
              sourceRef: {{kind: HelmRepository, name: podinfo}}
        """)


@pytest.fixture
def charts(repo, write_catalog, db):
    files = {}
    for stage in ("staging", "production"):
        files[f"apps/{stage}/podinfo.yaml"] = helmrelease("6.5.0")
        files[f"apps/{stage}/billing-values.yaml"] = "image:\n  repository: ghcr.io/acme/billing\n  tag: 1.0.0\n"
    repo.commit(files, "Bootstrap")
    path = write_catalog(REPOSITORY + HELM, url=repo.url)
    matrix_refresh(catalog=catalog_load(path))
    return path


@pytest.mark.parametrize("version", ["6.6.0", "v6.6.0", "6.6.0-rc.1+build.5", ">=6.0.0 <7.0.0", "~6.5", "6.x", "*"])
def test_it_takes_chart_versions_and_ranges(charts, repo, version):
    promotion = promotion_request(catalog=catalog_load(charts), applications=["podinfo"], from_stage="",
                                  to_stage="staging", version=version)  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.COMMITTED
    assert f'version: "{version}"' in repo._git("show", "main:apps/staging/podinfo.yaml").decode()


@pytest.mark.parametrize("version", ["latest", "six", "[6.0.0]", "6.0.0; rm -rf /"])
def test_it_refuses_what_is_no_chart_version(charts, version):
    with pytest.raises(PromotionError, match=f"^podinfo in staging: version .* is not {re.escape(CHART_RULE)}$"):
        promotion_request(catalog=catalog_load(charts), applications=["podinfo"], from_stage="", to_stage="staging",
                          version=version)  # fmt: skip


def test_it_takes_one_token_in_a_generic_value_and_refuses_the_rest(charts):
    catalog = catalog_load(charts)
    ok = promotion_request(catalog=catalog, applications=["billing"], from_stage="", to_stage="staging",
                           version="1.1.0+build.7")  # fmt: skip
    assert ok.items.get().to_version == "1.1.0+build.7"
    for bad in ("1.1 0", "{a: b}", "'x'"):
        with pytest.raises(PromotionError, match=f"is not {re.escape(TOKEN_RULE)}$"):
            promotion_request(catalog=catalog, applications=["billing"], from_stage="", to_stage="staging",
                              version=bad)  # fmt: skip
