"""What changed between the version a stage runs and the one its upstream offers."""

from django.test import Client
from django.urls import reverse

from promotions.catalogue.loader import catalog_load
from promotions.matrix.changes import changes_between
from promotions.matrix.refresh import matrix_refresh
from promotions.workflow.execute import promotion_execute
from promotions.workflow.rollback import promotion_release

SHA = {"1.0.0": "a" * 40, "1.1.0": "b" * 40, "1.2.0": "c" * 40}


def release(catalog, version: str, repository: str = "https://github.com/acme/web.git", **extra):  # type: ignore[no-untyped-def]
    metadata = {"build": f"ci-{version}", "issue": f"WEB-{version[-3]}", "source_repository": repository,
                "source_commit": SHA[version]} | extra  # fmt: skip
    promotion = promotion_release(catalog=catalog, application="web", version=version, metadata=metadata,
                                  requested_by=None)  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    matrix_refresh(catalog=catalog)
    return promotion


def test_the_releases_between_and_a_compare_link_on_the_application_page(pipeline, alice):
    catalog = catalog_load(pipeline)
    for version in ("1.0.0", "1.1.0", "1.2.0"):  # CI releases into dev; staging stays at 1.0.0
        release(catalog, version)
    changes = changes_between(application="web", older="1.0.0", newer="1.2.0")
    assert [(r.version, r.build, r.issue) for r in changes.releases] == [("1.1.0", "ci-1.1.0", "WEB-1"),
                                                                         ("1.2.0", "ci-1.2.0", "WEB-2")]  # fmt: skip
    assert changes.compare == f"https://github.com/acme/web/compare/{SHA['1.0.0']}...{SHA['1.2.0']}"
    client = Client()
    client.force_login(alice)
    html = client.get(reverse("application", args=["web"])).content.decode()
    assert 'dev offers <code class="v">1.2.0</code>: what changed since <code class="v">1.0.0</code>' in html
    assert (
        f'<a href="https://github.com/acme/web/compare/{SHA["1.0.0"]}...{SHA["1.2.0"]}">compare the source</a>' in html
    )
    assert "ci-1.1.0" in html
    assert "WEB-2" in html


def test_no_compare_link_for_unknown_hosts_or_mixed_repositories(pipeline):
    catalog = catalog_load(pipeline)
    release(catalog, "1.0.0", repository="javascript:alert(1)//github.com/acme/web")
    release(catalog, "1.1.0")
    assert changes_between(application="web", older="1.0.0", newer="1.1.0").compare == ""
    release(catalog, "1.2.0", repository="https://gitlab.example/acme/web")
    assert changes_between(application="web", older="1.1.0", newer="1.2.0").compare == ""


def test_a_version_not_released_through_the_portal_lists_every_release_up_to_the_newer(pipeline):
    catalog = catalog_load(pipeline)
    release(catalog, "1.1.0")
    changes = changes_between(application="web", older="0.9.0", newer="1.1.0")
    assert (changes.older_known, [r.version for r in changes.releases], changes.compare) == (False, ["1.1.0"], "")
    assert changes_between(application="web", older="1.1.0", newer="7.0.0").releases == []
