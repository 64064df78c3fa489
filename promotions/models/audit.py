"""The append-only, hash-chained audit history."""

from __future__ import annotations

from django.db import models

from promotions.models.promotion import Promotion

# What each action reads as on a page. A promotion's state change (`promotion.<state>`) reads as
# its state's label; an action missing here reads as its last part in words (`x.pin_lifted` → "Pin lifted").
ACTION_LABELS = {
    "approval.approved": "Approval given",
    "approval.github_approved": "Approved on GitHub",
    "approval.github_changes_requested": "Changes requested on GitHub",
    "approval.gitlab_approved": "Approved on GitLab",
    "approval.gitlab_withdrawn": "Approval withdrawn on GitLab",
    "approval.github_dismissed": "Review dismissed on GitHub",
    "approval.gitea_dismissed": "Review dismissed on Gitea",
    "approval.gitea_approved": "Approved on Gitea",
    "approval.gitea_changes_requested": "Changes requested on Gitea",
    "audit.archived": "Older events archived",
    "auth.login": "Signed in",
    "auth.login_failed": "Sign-in failed",
    "auth.locked_out": "Sign-in paused after too many failures",
    "auth.oidc_user_created": "Account created at a first single sign-on",
    "auth.groups_synced": "Groups taken from single sign-on",
    "chatops.unlinked": "Chat user not linked to an account",
    "config.reloaded": "Catalogue read again",
    "identity.linked": "Identity linked",
    "identity.unlinked": "Identity unlinked",
    "operator.sync_requested": "Asked the operator to sync",
    "operator.sync_failed": "Could not ask the operator to sync",
    "promotion.applied": "Applied by the operator",
    "promotion.auto_merge_failed": "Automatic merge failed",
    "promotion.auto_merge_held": "Automatic merge held back",
    "promotion.branch_kept": "Branch not deleted",
    "promotion.checks_failed": "Checks failed",
    "promotion.content_changed": "Pull request changed",
    "promotion.downgrade": "Downgrade allowed",
    "promotion.freeze_override": "Freeze overridden",
    "promotion.not_superseded": "Older pull request left open",
    "promotion.path_override": "Promotion path overridden",
    "pin.lift_requested": "Asked to lift a rollback's pin",
    "pin.lifted": "Rollback's pin lifted",
    "token.created": "API token created",
    "token.revoked": "API token revoked",
}


def action_label(action: str) -> str:
    """How an audit action (`approval.approved`, `promotion.pr_open`) reads on a page."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    entity, _, state = action.partition(".")
    if entity == "promotion" and state in Promotion.State.values:
        return Promotion.State(state).label
    words = action.rpartition(".")[2].replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else action


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
        OIDC = "oidc", "OIDC"
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
        """What happened, in words (`action_label`)."""
        return action_label(self.action)


class AuditArchiveQuerySet(models.QuerySet["AuditArchive"]):
    """Archive records are append-only too."""

    def update(self, **kwargs: object) -> int:
        raise PermissionError("audit archives are append-only: they cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit archives are append-only: they cannot be deleted")


class AuditArchive(models.Model):
    """A prefix of the audit chain moved out of the table into a gzip'd JSON-lines file
    (`promotions.audit.archive`): which events, the hash before the first and the chain head
    of the last (so the table, and the next archive, link on), and the file's sha256."""

    first_id = models.BigIntegerField(unique=True)
    last_id = models.BigIntegerField(unique=True)
    count = models.PositiveIntegerField()
    first_prev_hash = models.CharField(max_length=64, help_text="the hash the first archived event links to")
    last_hash = models.CharField(max_length=64, help_text="the archive's chain head: the last archived event's hash")
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    who = models.CharField(max_length=150)

    objects = AuditArchiveQuerySet.as_manager()

    class Meta:
        ordering = ["first_id"]

    def __str__(self) -> str:
        return f"{self.file_name} (#{self.first_id}–#{self.last_id})"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise PermissionError("audit archives are append-only: they cannot be updated")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit archives are append-only: they cannot be deleted")
