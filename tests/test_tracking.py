"""What happens on the hosting side counts like what happens in the portal: a rollback merged on
GitHub pins its version, a promotion by hand merged there lifts the pin."""

from github import Auth, Github

from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Pin, Promotion
from promotions.tracking.sweeper import promotions_sweep
from promotions.workflow.execute import promotion_execute
from promotions.workflow.rollback import promotion_rollback
from tests.github_pipeline import TOKENS, gh, github_pipeline, promote  # noqa: F401 - fixtures

State = Promotion.State


def merged_on_github(gh, promotion: Promotion) -> Promotion:  # noqa: F811 - the fixture's value
    """bob merges the pull request on GitHub itself; the sweeper notices."""
    reviewer = Github(base_url=gh.api_url, auth=Auth.Token("bob-token"), retry=None)
    reviewer.get_repo("acme/platform").get_pull(promotion.pull_request_number).merge()
    promotions_sweep()
    promotion.refresh_from_db()
    return promotion


def test_it_pins_a_rollback_merged_on_github_and_lifts_it_for_a_promotion_merged_there(github_pipeline, gh, alice):  # noqa: F811
    path, _repo = github_pipeline
    forward = promote(path, requested_by=alice)
    promotion_execute(promotion_id=forward.pk)
    assert merged_on_github(gh, Promotion.objects.get(pk=forward.pk)).state == State.MERGED
    matrix_refresh(catalog=catalog_load(path))
    rollback = promotion_rollback(catalog=catalog_load(path), application="web", stage="production", requested_by=alice)
    promotion_execute(promotion_id=rollback.pk)
    rollback = merged_on_github(gh, Promotion.objects.get(pk=rollback.pk))
    assert rollback.state == State.MERGED
    assert Pin.objects.get(application="web", stage="production").version == "1.0.0"
    matrix_refresh(catalog=catalog_load(path))
    again = promote(path, requested_by=alice, lift_pin_reason="moving on")
    promotion_execute(promotion_id=again.pk)
    assert merged_on_github(gh, Promotion.objects.get(pk=again.pk)).state == State.MERGED
    assert not Pin.objects.exists()
