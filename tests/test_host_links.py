"""Links to the Git host's pages, from the catalogue's settings alone."""

from promotions.hosting.links import github_links


def test_github_com_and_enterprise_servers_link_to_their_pages():
    public = github_links(repo="acme/platform", api_url="https://api.github.com")
    assert public.commit("abc123") == "https://github.com/acme/platform/commit/abc123"
    assert (
        public.branch("gitops-portal/promotion-12")
        == "https://github.com/acme/platform/tree/gitops-portal/promotion-12"
    )
    assert public.pull(7) == "https://github.com/acme/platform/pull/7"
    enterprise = github_links(repo="acme/platform", api_url="https://ghe.example/api/v3")
    assert enterprise.commit("abc") == "https://ghe.example/acme/platform/commit/abc"
    prefixed = github_links(repo="acme/platform", api_url="https://corp.example/git/api/v3/")
    assert prefixed.pull(3) == "https://corp.example/git/acme/platform/pull/3"


def test_hostile_names_stay_inside_the_repository_path():
    links = github_links(repo="acme/platform", api_url="https://api.github.com")
    assert links.branch('x"><script>') == "https://github.com/acme/platform/tree/x%22%3E%3Cscript%3E"
    assert links.commit("../../evil") == "https://github.com/acme/platform/commit/..%2F..%2Fevil"
    assert github_links(repo="acme/platform", api_url="javascript:alert(1)") is None
    assert github_links(repo="acme/platform", api_url="file:///etc") is None


def test_links_out_of_the_portal_use_its_public_address(settings, client, pipeline, alice):
    """PR bodies, notifications, chat and the API's pull_request.url: GITOPS_PORTAL_URL, not the
    address a worker happens to run at (make run PORT=8110 sets it to that port)."""
    from promotions.catalogue.loader import catalog_load
    from promotions.links import promotion_link
    from promotions.workflow.execute import promotion_execute
    from promotions.workflow.request import promotion_request

    settings.GITOPS_PORTAL_URL = "http://127.0.0.1:8110/"
    assert promotion_link(12) == "http://127.0.0.1:8110/promotions/12/"
    catalog = catalog_load(pipeline)
    first = promotion_request(catalog=catalog, applications=["api"], from_stage="dev", to_stage="staging")
    promotion_execute(promotion_id=first.pk)
    from promotions.matrix.refresh import matrix_refresh

    matrix_refresh(catalog=catalog)
    promotion = promotion_request(catalog=catalog, applications=["api"], from_stage="staging", to_stage="production")
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.pull_request_url == f"http://127.0.0.1:8110/promotions/{promotion.pk}/"
