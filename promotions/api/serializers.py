"""The API's documents (for the OpenAPI schema) and its inputs (validated here)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField()


class Error(serializers.Serializer):
    error = ErrorDetail()


class Live(serializers.Serializer):
    version = serializers.CharField(allow_null=True)
    versions = serializers.ListField(child=serializers.CharField())
    health = serializers.ChoiceField(["Healthy", "Progressing", "Degraded", "Missing", "Unknown"])
    sync = serializers.ChoiceField(["Synced", "OutOfSync", "Unknown"])
    ready = serializers.IntegerField(allow_null=True)
    desired = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_null=True, allow_blank=True)
    observed_at = serializers.DateTimeField(allow_null=True)


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


class Application(serializers.Serializer):
    name = serializers.CharField()
    repository = serializers.CharField()
    stages = serializers.DictField(child=Cell())


class RepositoryRef(serializers.Serializer):
    name = serializers.CharField()
    commit = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class Matrix(serializers.Serializer):
    repositories = RepositoryRef(many=True)
    stages = serializers.ListField(child=serializers.CharField())
    applications = Application(many=True)


class Stage(serializers.Serializer):
    name = serializers.CharField()
    position = serializers.IntegerField()
    mode = serializers.ChoiceField(["commit", "pull_request"])
    approvals = serializers.IntegerField()
    approvers = serializers.ListField(child=serializers.CharField())
    requesters = serializers.ListField(child=serializers.CharField(), allow_null=True)
    cluster = serializers.BooleanField()
    frozen = serializers.CharField(allow_null=True)


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

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class PromotionRequest(serializers.Serializer):
    applications = serializers.ListField(
        child=serializers.RegexField(NAME, max_length=100), min_length=1, max_length=200
    )
    from_stage = serializers.RegexField(NAME, max_length=100)
    to_stage = serializers.RegexField(NAME, max_length=100)
    version = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=False)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    override_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class Rollback(serializers.Serializer):
    application = serializers.RegexField(NAME, max_length=100)
    stage = serializers.RegexField(NAME, max_length=100)
    version = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=False)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    override_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class Release(serializers.Serializer):
    application = serializers.RegexField(NAME, max_length=100)
    version = serializers.RegexField(r"^[^\s]+$", max_length=255)
    build = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    source_repository = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    source_commit = serializers.RegexField(r"^[0-9a-fA-F]{7,64}$", required=False)
    issue = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class Comment(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class Reason(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class OptionalReason(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class MergeInput(serializers.Serializer):
    override_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class TokenInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)


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
