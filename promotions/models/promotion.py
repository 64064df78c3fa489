"""Promotions, their applications, and the versions pinned by a rollback."""

from __future__ import annotations

from django.db import models


class Promotion(models.Model):
    """A request to move one or more applications' versions into a stage.

    The id is the idempotency key: the pull-request branch, the PR lookup and the
    `Promotion-Id:` commit trailer all derive from it, so a re-run finds its own work.
    """

    # The labels are what people read (pages, timeline, notifications' titles); the values are
    # what machines read (API, audit actions `promotion.<value>`, CSS classes `state-<value>`).
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        PREPARING = "preparing", "Preparing"
        COMMITTED = "committed", "Committed"
        PR_OPEN = "pr_open", "Pull request open"
        APPROVED = "approved", "Approved"
        MERGED = "merged", "Merged"
        SYNCING = "syncing", "Syncing"
        DEPLOYED = "deployed", "Deployed"
        VERIFIED = "verified", "Verified"
        NOOP = "noop", "No change"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        SUPERSEDED = "superseded", "Superseded"

    class Kind(models.TextChoices):
        PROMOTE = "promote", "Promotion"
        ROLLBACK = "rollback", "Rollback"
        RELEASE = "release", "Release from CI"

    class Mode(models.TextChoices):
        COMMIT = "commit", "Direct commit"
        PULL_REQUEST = "pull_request", "Pull request"

    OPEN_STATES = (State.QUEUED, State.PREPARING, State.PR_OPEN, State.APPROVED)
    # Landed in Git; the cluster is followed until it runs the new version (stages with a cluster).
    ROLLOUT_STATES = (State.COMMITTED, State.MERGED, State.SYNCING, State.DEPLOYED)
    TERMINAL_STATES = (State.COMMITTED, State.MERGED, State.VERIFIED, State.NOOP, State.FAILED, State.REJECTED,
                       State.CANCELLED, State.SUPERSEDED)  # fmt: skip

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PROMOTE)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED, db_index=True)
    mode = models.CharField(max_length=20, choices=Mode.choices)
    repository = models.CharField(max_length=100)
    branch = models.CharField(max_length=255, help_text="the branch the change lands on")
    from_stage = models.CharField(max_length=100, blank=True)
    to_stage = models.CharField(max_length=100)
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT)
    reason = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True, help_text="issue, build, source repository/commit")
    base_commit = models.CharField(max_length=40, blank=True)
    commit = models.CharField(max_length=40, blank=True, help_text="the commit carrying the change")
    merge_commit = models.CharField(max_length=40, blank=True)
    pr_branch = models.CharField(max_length=255, blank=True)
    pull_request_number = models.PositiveIntegerField(null=True, blank=True)
    pull_request_url = models.CharField(max_length=1000, blank=True)
    diff = models.TextField(blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claim = models.CharField(max_length=36, blank=True, help_text="which execution holds the promotion")
    nonce = models.CharField(
        max_length=32, blank=True, help_text="secret proof in the portal's own commit (never shown before it lands)"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    landed_at = models.DateTimeField(null=True, blank=True, help_text="committed or merged into the branch")
    checks = models.JSONField(default=dict, blank=True, help_text="CI checks on the pull request: {state, description}")
    applied_at = models.DateTimeField(
        null=True, blank=True, help_text="the stage's operator applied a revision containing the change"
    )
    deployed_at = models.DateTimeField(null=True, blank=True, help_text="the cluster first ran the new version")
    failure_cause = models.CharField(
        max_length=20, blank=True, help_text="what a failed promotion failed on: operator, rollout, deadline, git, …"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "updated_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} → {self.to_stage} ({self.state})"

    FAILING_CHECK_STATES = ("failure", "error", "cancelled", "timed_out", "action_required")

    @property
    def failing_checks(self) -> dict[str, str]:
        """The pull request's failing checks, name → description: it is not merged automatically while any fail."""
        return {name: check.get("description", "") for name, check in (self.checks or {}).items()
                if check.get("state") in self.FAILING_CHECK_STATES}  # fmt: skip

    @property
    def title(self) -> str:
        items = list(self.items.all())
        verb = {"rollback": "Roll back", "release": "Release"}.get(self.kind, "Promote")
        if len(items) == 1:
            joint = "in" if self.kind == "rollback" else "to"
            target = (
                f"{items[0].application} to {items[0].to_version}"
                if self.kind == "rollback"
                else (f"{items[0].application} {items[0].to_version}")
            )
            return f"{verb} {target} {joint} {self.to_stage}"
        return f"{verb} {len(items)} applications to {self.to_stage}"


class PromotionItem(models.Model):
    """One application in a promotion (several make a release bundle)."""

    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="items")
    application = models.CharField(max_length=100)
    path = models.CharField(max_length=1000)
    from_version = models.CharField(max_length=255, blank=True, help_text="the target stage's version before")
    to_version = models.CharField(max_length=255)
    changed = models.BooleanField(null=True, help_text="null until executed; false: the stage already had it")

    class Meta:
        ordering = ["application"]
        indexes = [models.Index(fields=["application"])]

    def __str__(self) -> str:
        return f"{self.application} {self.from_version or '?'} → {self.to_version}"


class Pin(models.Model):
    """A version rolled back to in a stage: nothing automatic promotes over it until a
    person promotes into that stage by hand."""

    application = models.CharField(max_length=100)
    stage = models.CharField(max_length=100)
    version = models.CharField(max_length=255)
    promotion = models.ForeignKey(Promotion, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["application", "stage"], name="pin_unique_cell")]

    def __str__(self) -> str:
        return f"{self.application}/{self.stage} pinned at {self.version}"
