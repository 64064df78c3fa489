"""The API's documents (for the OpenAPI schema) and its inputs (validated here)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from promotions.api.fields import COMMIT, NAME, VERSION, Date, Integer, Text
from promotions.api.pagination import Pagination
from promotions.insights.query import DEFAULT_DAYS, MAX_DAYS
from promotions.models import Promotion as PromotionModel


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField()


class Error(serializers.Serializer):
    error = ErrorDetail()


class HelmRelease(serializers.Serializer):
    name = serializers.CharField()
    namespace = serializers.CharField()
    chart = serializers.CharField(help_text="the chart version range the HelmRelease asks for")
    resolved = serializers.CharField(help_text="the chart version its newest release runs")
    ready = serializers.BooleanField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)


class Operator(serializers.Serializer):
    operator = serializers.ChoiceField(["Flux", "Argo CD"])
    kind = serializers.CharField(allow_blank=True, help_text="Kustomization or Application; empty when none applies")
    name = serializers.CharField(allow_blank=True)
    namespace = serializers.CharField(allow_blank=True)
    revision = serializers.CharField(allow_blank=True, help_text="the Git commit the operator last applied")
    attempted = serializers.CharField(allow_blank=True, help_text="the Git commit it last tried")
    ready = serializers.BooleanField(allow_null=True, help_text="null while reconciling")
    reason = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True, help_text="the operator's own message, on one line")
    observed_at = serializers.DateTimeField()
    change = serializers.CharField(allow_blank=True, help_text="the commit that last changed the cell")
    verdict = serializers.ChoiceField(["applied", "pending", "failed", "unknown"])
    summary = serializers.CharField(
        help_text='"applied", "not yet applied: Flux has abc1234, the change is def5678", "failed: <message>", …'
    )
    helm = HelmRelease(required=False, help_text="the HelmRelease installing the application, if any")


class Live(serializers.Serializer):
    version = serializers.CharField(allow_null=True)
    versions = serializers.ListField(child=serializers.CharField())
    health = serializers.ChoiceField(["Healthy", "Progressing", "Degraded", "Missing", "Unknown"])
    sync = serializers.ChoiceField(["Synced", "OutOfSync", "Unknown"])
    ready = serializers.IntegerField(allow_null=True)
    desired = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_null=True, allow_blank=True)
    observed_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField(help_text="observed too long ago to be taken as what runs now")
    operator = Operator(allow_null=True, help_text="what the stage's GitOps operator says; null without one")


class Cell(serializers.Serializer):
    version = serializers.CharField(allow_null=True)
    path = serializers.CharField(allow_null=True)
    line = serializers.IntegerField(allow_null=True)
    commit = serializers.CharField(allow_null=True)
    author = serializers.CharField(allow_null=True)
    date = serializers.DateTimeField(allow_null=True)
    subject = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    live = Live(allow_null=True)
    relation = serializers.ChoiceField(
        ["same", "behind", "ahead", "diverged", "unknown"], allow_null=True,
        help_text="against the upstream stage(s): behind = an upstream is newer; ahead = this stage is newer; "
        "diverged = the upstreams disagree; unknown = cannot be ordered; null: nothing to compare with",
    )  # fmt: skip
    upstream = serializers.ListField(child=serializers.CharField(), help_text="the upstream stage(s) compared with")


class Application(serializers.Serializer):
    name = serializers.CharField()
    repository = serializers.CharField()
    stages = serializers.DictField(child=Cell())


class RepositoryRef(serializers.Serializer):
    name = serializers.CharField()
    commit = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class MatrixPage(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField()
    count = serializers.IntegerField(help_text="applications on every page")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class Matrix(serializers.Serializer):
    repositories = RepositoryRef(many=True)
    stages = serializers.ListField(child=serializers.CharField())
    applications = Application(many=True)
    page = MatrixPage(required=False, help_text="only when a page was asked for (`page` or `page_size`)")


class Stage(serializers.Serializer):
    name = serializers.CharField()
    position = serializers.IntegerField()
    mode = serializers.ChoiceField(["commit", "pull_request"])
    approvals = serializers.IntegerField()
    approvers = serializers.ListField(child=serializers.CharField())
    requesters = serializers.ListField(child=serializers.CharField(), allow_null=True)
    cluster = serializers.BooleanField()
    frozen = serializers.CharField(allow_null=True)
    upstream = serializers.ListField(child=serializers.CharField(), help_text="the stages it takes releases from")
    promotion_sources = serializers.ListField(
        child=serializers.CharField(), help_text="where promotions into it may come from: upstreams, promotion.from"
    )


class HistoryEntry(serializers.Serializer):
    version = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    commit = serializers.CharField()
    author = serializers.CharField()
    date = serializers.DateTimeField()
    subject = serializers.CharField(allow_blank=True)


class History(serializers.Serializer):
    application = serializers.CharField()
    stages = serializers.DictField(child=HistoryEntry(many=True))


class PromotionItem(serializers.Serializer):
    name = serializers.CharField()
    to = serializers.CharField()
    path = serializers.CharField()

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = serializers.CharField(allow_null=True)  # a Python keyword, so declared here
        return fields


class PullRequestRef(serializers.Serializer):
    number = serializers.IntegerField()
    url = serializers.CharField()


class Check(serializers.Serializer):
    state = serializers.CharField()
    description = serializers.CharField(allow_blank=True)


class Promotion(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    kind = serializers.ChoiceField(["promote", "rollback", "release"])
    mode = serializers.ChoiceField(["commit", "pull_request"])
    from_stage = serializers.CharField(allow_null=True)
    to_stage = serializers.CharField()
    applications = PromotionItem(many=True)
    branch = serializers.CharField()
    commit = serializers.CharField(allow_null=True)
    pull_request = PullRequestRef(allow_null=True)
    error = serializers.CharField(allow_null=True)
    checks = serializers.DictField(child=Check(), help_text="CI checks on the pull request, by name")
    blocked_by_checks = serializers.ListField(
        child=serializers.CharField(), help_text="failing checks: no automatic merge while any fail"
    )


class AuditEvent(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    source = serializers.CharField()
    action = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    promotion = serializers.IntegerField(allow_null=True)
    applications = serializers.ListField(child=serializers.CharField())
    stage = serializers.CharField(allow_blank=True)
    targets = serializers.JSONField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    request_id = serializers.CharField(allow_blank=True)
    hash = serializers.CharField()


class DurationFigures(serializers.Serializer):
    count = serializers.IntegerField(help_text="how many durations were measured")
    median_seconds = serializers.FloatField(allow_null=True, help_text="null when none was")
    p90_seconds = serializers.FloatField(allow_null=True, help_text="nearest rank: 90 % took at most this long")


class RestoreFigures(DurationFigures):
    unrestored = serializers.IntegerField(help_text="failed changes whose stage runs no good version again yet")


class DeliveryFigures(serializers.Serializer):
    deployments = serializers.IntegerField(help_text="applications of promotions that landed in Git in the period")
    deployments_per_day = serializers.FloatField()
    deployments_per_week = serializers.FloatField()
    lead_time = DurationFigures(help_text="versions first verified in the period: from entering the pipeline")
    changes_failed = serializers.IntegerField(help_text="deployments that failed after landing or were rolled back")
    change_failure_rate = serializers.FloatField(allow_null=True, help_text="0 to 1; null when nothing was deployed")
    time_to_restore = RestoreFigures(help_text="failed changes: from the failure to the next verified promotion")


class StageFigures(DeliveryFigures):
    stage = serializers.CharField()


class ApplicationFigures(DeliveryFigures):
    application = serializers.CharField()


class WeekFigures(DeliveryFigures):
    start = serializers.DateTimeField(help_text="Monday 00:00 in the portal's time zone, or the period's start")
    end = serializers.DateTimeField()


class InsightsPeriod(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(help_text="excluded")
    days = serializers.FloatField()


class InsightsScope(serializers.Serializer):
    stages = serializers.ListField(
        child=serializers.CharField(),
        help_text="the stages `totals`, `applications` "
        "and `weeks` are about: the pipeline's last stages, or the one asked for",
    )
    application = serializers.CharField(allow_null=True)


class GraphEnds(serializers.Serializer):
    first_stages = serializers.ListField(child=serializers.CharField())
    last_stages = serializers.ListField(child=serializers.CharField())


class DeliveryInsights(serializers.Serializer):
    period = InsightsPeriod()
    scope = InsightsScope()
    graph = GraphEnds()
    totals = DeliveryFigures()
    stages = StageFigures(many=True, help_text="every stage (lead time: up to that stage)")
    applications = ApplicationFigures(many=True, help_text="those deployed or verified in the scope")
    weeks = WeekFigures(many=True)


class Token(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class NewToken(Token):
    token = serializers.CharField(help_text="shown once: store it now")


# -- inputs -----------------------------------------------------------------------------------
# Every string is a `Text`: strict type, no control characters (free text: line breaks only).


def _name() -> Text:
    return Text(form=NAME, max_length=100)


def _free_text() -> Text:
    return Text(multiline=True, max_length=2000, required=False, allow_blank=True, default="")


def _single_line(max_length: int) -> Text:
    return Text(max_length=max_length, required=False, allow_blank=True, default="")


class PromotionRequest(serializers.Serializer):
    applications = serializers.ListField(child=_name(), min_length=1, max_length=200)
    from_stage = _name()
    to_stage = _name()
    version = Text(form=VERSION, max_length=255, required=False, allow_null=True)
    reason = _free_text()
    override_reason = _free_text()
    allow_downgrade = serializers.BooleanField(
        default=False, help_text="install a version older than the target stage runs (refused otherwise)"
    )
    lift_pin_reason = _free_text()


class Rollback(serializers.Serializer):
    application = _name()
    stage = _name()
    version = Text(form=VERSION, max_length=255, required=False, allow_null=True)
    reason = _free_text()
    override_reason = _free_text()


class Release(serializers.Serializer):
    application = _name()
    version = Text(form=VERSION, max_length=255)
    build = _single_line(200)
    source_repository = _single_line(500)
    source_commit = Text(form=COMMIT, required=False)
    issue = _single_line(200)
    reason = _free_text()


class Comment(serializers.Serializer):
    comment = _free_text()


class Reason(serializers.Serializer):
    reason = Text(multiline=True, max_length=2000)


class OptionalReason(serializers.Serializer):
    reason = _free_text()


class MergeInput(serializers.Serializer):
    override_reason = _free_text()


class TokenInput(serializers.Serializer):
    name = Text(max_length=100)
    expires_days = Integer(min_value=1, max_value=3650, required=False, allow_null=True)


# -- query parameters (validated like bodies: a bad value is a 400 naming it, never ignored) ----


class Page(serializers.Serializer):
    page = Integer(min_value=1, required=False, help_text="1, 2, …; past the last page: 404")
    page_size = Integer(min_value=1, max_value=Pagination.max_page_size, required=False,
                        help_text=f"default {Pagination.page_size}")  # fmt: skip


class MatrixFilter(Page):
    """Without `page` or `page_size`: every application (the whole document)."""

    name = Text(max_length=100, required=False, allow_blank=True, help_text="only applications whose name contains it")


class ApplicationFilter(Page):
    name = Text(max_length=100, required=False, allow_blank=True, help_text="part of the name")


class PromotionFilter(Page):
    application = Text(max_length=100, required=False, allow_blank=True)
    stage = Text(max_length=100, required=False, allow_blank=True)
    state = serializers.ChoiceField(PromotionModel.State.values, required=False)
    kind = serializers.ChoiceField(PromotionModel.Kind.values, required=False)


class AuditFilter(Page):
    application = Text(max_length=100, required=False, allow_blank=True)
    stage = Text(max_length=100, required=False, allow_blank=True)
    user = Text(max_length=150, required=False, allow_blank=True)
    action = Text(max_length=100, required=False, allow_blank=True)
    since = Date(required=False, help_text="from this day on (YYYY-MM-DD)")
    until = Date(required=False, help_text="up to and including this day (YYYY-MM-DD)")


class InsightsFilter(serializers.Serializer):
    """The period: `days`, or `since` and/or `until`, never both kinds."""

    days = Integer(min_value=1, max_value=MAX_DAYS, required=False,
                   help_text=f"the last N days up to now (default {DEFAULT_DAYS})")  # fmt: skip
    since = Date(required=False, help_text="from this day on (YYYY-MM-DD; default: 30 days before until)")
    until = Date(required=False, help_text="up to and including this day (YYYY-MM-DD; default: today)")
    stage = Text(max_length=100, required=False, allow_blank=True,
                 help_text="this stage only (default: the last stages of the pipeline)")  # fmt: skip
    application = Text(max_length=100, required=False, allow_blank=True, help_text="this application only")


def paginated(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The page envelope the list endpoints answer with."""
    return type(
        f"Paginated{item.__name__}List",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )
