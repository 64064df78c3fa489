"""What the portal stores. The catalogue (config file) and Git are the sources of truth;
these tables hold the last read of them so pages never wait on Git."""

from __future__ import annotations

from django.db import models


class RepositoryState(models.Model):
    """The last Git read of one repository: which commit the matrix shows, and any problem."""

    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=1000)
    branch = models.CharField(max_length=255)
    commit = models.CharField(max_length=40, blank=True)
    fingerprint = models.CharField(max_length=32, blank=True, help_text="catalogue version the cells were read with")
    read_at = models.DateTimeField(null=True, blank=True, help_text="when `commit` was read")
    checked_at = models.DateTimeField(null=True, blank=True, help_text="last fetch attempt")
    error = models.TextField(blank=True, help_text="why the last fetch or read failed; empty when fine")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}@{self.commit[:8] or '?'}"


class StageVersion(models.Model):
    """One matrix cell: the version an application declares in one stage folder."""

    repository = models.CharField(max_length=100)
    application = models.CharField(max_length=100)
    stage = models.CharField(max_length=100)
    version = models.CharField(max_length=255, null=True, blank=True)
    path = models.CharField(max_length=1000, null=True, blank=True, help_text="null: not in this stage")
    line = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    commit = models.CharField(max_length=40, blank=True, help_text="the commit that last changed the version")
    author = models.CharField(max_length=255, blank=True)
    author_email = models.CharField(max_length=255, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["application", "stage"]
        constraints = [models.UniqueConstraint(fields=["application", "stage"], name="stage_version_unique_cell")]
        indexes = [models.Index(fields=["repository"])]

    def __str__(self) -> str:
        return f"{self.application}/{self.stage}={self.version or '-'}"


class Promotion(models.Model):
    """A request to move one or more applications' versions into a stage.

    The id is the idempotency key: the pull-request branch, the PR lookup and the
    `Promotion-Id:` commit trailer all derive from it, so a re-run finds its own work.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        PREPARING = "preparing"
        COMMITTED = "committed"
        PR_OPEN = "pr_open"
        APPROVED = "approved"
        MERGED = "merged"
        SYNCING = "syncing"
        DEPLOYED = "deployed"
        VERIFIED = "verified"
        NOOP = "noop"
        FAILED = "failed"
        REJECTED = "rejected"
        CANCELLED = "cancelled"
        SUPERSEDED = "superseded"

    class Kind(models.TextChoices):
        PROMOTE = "promote"
        ROLLBACK = "rollback"
        RELEASE = "release"

    class Mode(models.TextChoices):
        COMMIT = "commit"
        PULL_REQUEST = "pull_request"

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
    deployed_at = models.DateTimeField(null=True, blank=True, help_text="the cluster first ran the new version")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "updated_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} → {self.to_stage} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

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


class AuditQuerySet(models.QuerySet["AuditEvent"]):
    """History is append-only: bulk updates and deletes are refused too."""

    def update(self, **kwargs: object) -> int:
        raise PermissionError("audit events are append-only: they cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only: they cannot be deleted")


class AuditEvent(models.Model):
    """One thing that happened, by whom, from where: append-only and hash-chained (each
    event's hash covers its content and the previous event's hash), so any later change
    to a row breaks the chain where it happened. A promotion's events are its timeline."""

    class Source(models.TextChoices):
        UI = "ui"
        API = "api"
        CHATOPS = "chatops"
        WEBHOOK = "webhook"
        CI = "ci"
        CLI = "cli"
        SYSTEM = "system"

    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150)
    source = models.CharField(max_length=20, choices=Source.choices)
    action = models.CharField(max_length=100, db_index=True, help_text="dotted, e.g. promotion.pr_open")
    message = models.TextField(blank=True)
    promotion = models.ForeignKey(Promotion, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    applications = models.CharField(max_length=2000, blank=True, help_text=",a,b, (for filtering)")
    stage = models.CharField(max_length=100, blank=True, db_index=True)
    targets = models.JSONField(default=dict, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    mac = models.CharField(max_length=64, blank=True, help_text="HMAC of the hash with AUDIT_HMAC_KEY, when set")

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise PermissionError("audit events are append-only: they cannot be updated")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only: they cannot be deleted")

    @property
    def state(self) -> str:
        """For a promotion's state change, the state it moved to."""
        return self.action.removeprefix("promotion.") if self.action.startswith("promotion.") else ""

    @property
    def label(self) -> str:
        return self.state or self.action


class LiveState(models.Model):
    """What runs for one application in one stage's cluster, as the last refresh saw it."""

    class Health(models.TextChoices):
        HEALTHY = "Healthy"
        PROGRESSING = "Progressing"
        DEGRADED = "Degraded"
        MISSING = "Missing"
        UNKNOWN = "Unknown"

    class Sync(models.TextChoices):
        SYNCED = "Synced"
        OUT_OF_SYNC = "OutOfSync"
        UNKNOWN = "Unknown"

    application = models.CharField(max_length=100)
    stage = models.CharField(max_length=100)
    namespace = models.CharField(max_length=255, blank=True)
    workload = models.CharField(max_length=500, blank=True, help_text="kind/name of what was found")
    version = models.CharField(max_length=255, null=True, blank=True, help_text="null while several run")
    versions = models.JSONField(default=list, help_text="running versions, newest first")
    health = models.CharField(max_length=20, choices=Health.choices)
    sync = models.CharField(max_length=20, choices=Sync.choices)
    ready = models.PositiveIntegerField(null=True, blank=True)
    desired = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    observed_at = models.DateTimeField()

    class Meta:
        ordering = ["application", "stage"]
        constraints = [models.UniqueConstraint(fields=["application", "stage"], name="live_state_unique_cell")]

    def __str__(self) -> str:
        return f"{self.application}/{self.stage}: {self.health} {self.sync}"


class Approval(models.Model):
    """A reviewer's decision on a promotion's pull request: in the portal, or a GitHub review
    mirrored here. It counts only for the content (`commit`) it was given on."""

    class Decision(models.TextChoices):
        APPROVED = "approved"
        REJECTED = "rejected"
        CHANGES_REQUESTED = "changes_requested"

    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT)
    reviewer = models.CharField(max_length=150, help_text="portal username or GitHub login")
    source = models.CharField(max_length=20, default="ui")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(blank=True)
    commit = models.CharField(max_length=40, blank=True, help_text="the pull request's head when decided")
    github_review_id = models.BigIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.decision} #{self.promotion_id}"


class Profile(models.Model):
    """How a portal user is known elsewhere (GitHub reviews, chat). Only these links, made by
    an admin, let an outside identity act as the user, and only while the user is active."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="profile")
    github_login = models.CharField(max_length=100, null=True, blank=True, unique=True)
    chat_user_id = models.CharField(
        max_length=100, null=True, blank=True, unique=True, verbose_name="Slack user id", help_text="e.g. U024BE7LH"
    )
    mattermost_user_id = models.CharField(
        max_length=100, null=True, blank=True, unique=True, help_text="Mattermost user id (26 characters)"
    )

    def __str__(self) -> str:
        return f"{self.user} ({self.github_login or '-'})"


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


class ApiToken(models.Model):
    """A personal API token: only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="the token's first characters, to recognise it")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} · {self.name} ({self.prefix}…)"


class WebhookDelivery(models.Model):
    """One event received from Git hosting, kept to ignore redeliveries and to retry processing."""

    delivery_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=50)
    repository = models.CharField(max_length=100, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event} {self.delivery_id}"


class NotificationDelivery(models.Model):
    """One notification to one subscriber, retried until delivered or given up on."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    subscription = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    event = models.CharField(max_length=50)
    promotion = models.ForeignKey(Promotion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.subscription} {self.event} ({self.status})"
