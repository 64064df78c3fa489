"""Reviewers' decisions, and how portal users are known elsewhere."""

from __future__ import annotations

from django.db import models

from promotions.models.promotion import Promotion


class Approval(models.Model):
    """A reviewer's decision on a promotion's pull request: in the portal, or a review (GitHub, Gitea)
    or approval (GitLab) on the Git host mirrored here. It counts only for the content (`commit`) it
    was given on."""

    class Decision(models.TextChoices):
        APPROVED = "approved"
        REJECTED = "rejected"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        # An approval taken back on the Git host (GitLab's "Revoke approval"): it counts no more.
        WITHDRAWN = "withdrawn"

    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT)
    reviewer = models.CharField(max_length=150, help_text="portal username or Git host login")
    source = models.CharField(max_length=20, default="ui", help_text="ui, api, cli, chatops, or the Git host")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(blank=True)
    commit = models.CharField(max_length=40, blank=True, help_text="the pull request's head when decided")
    host_login = models.CharField(max_length=255, blank=True, default="", help_text="the login on the Git host")
    # "<host>:<id>" of a mirrored review: each is recorded once, whichever host it came from.
    host_review_id = models.CharField(max_length=80, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.decision} #{self.promotion_id}"


class Profile(models.Model):
    """How a portal user is known elsewhere (GitHub reviews, chat). Only these links, made by
    an admin, let an outside identity act as the user, and only while the user is active."""

    HOST_FIELDS = {"github": "github_login", "gitlab": "gitlab_username", "gitea": "gitea_username"}

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="profile")
    github_login = models.CharField(max_length=100, null=True, blank=True, unique=True)
    gitlab_username = models.CharField(
        max_length=255, null=True, blank=True, unique=True, verbose_name="GitLab username"
    )
    gitea_username = models.CharField(
        max_length=255, null=True, blank=True, unique=True, verbose_name="Gitea/Forgejo username"
    )
    chat_user_id = models.CharField(
        max_length=100, null=True, blank=True, unique=True, verbose_name="Slack user id", help_text="e.g. U024BE7LH"
    )
    mattermost_user_id = models.CharField(
        max_length=100, null=True, blank=True, unique=True, help_text="Mattermost user id (26 characters)"
    )
    # Single sign-on: the OIDC subject (`sub`) and its issuer. Set at a first sign-on, or by an admin
    # to give an existing account to an IdP identity; a username or email never links by itself.
    oidc_issuer = models.CharField(max_length=255, blank=True, default="", verbose_name="OIDC issuer")
    oidc_subject = models.CharField(
        max_length=255, null=True, blank=True, verbose_name="OIDC subject", help_text="the `sub` claim"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["oidc_issuer", "oidc_subject"], name="profile_oidc_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.github_login or '-'})"
