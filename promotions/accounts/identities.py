"""Links between portal users and their outside identities (GitHub logins, chat user ids).

Only a link an admin made lets an outside identity act as a portal user (and only while that
user is active). Installs that relied on equal names get *proposals* to confirm, never links
made behind an admin's back.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from promotions.audit.chain import audit_record
from promotions.errors import PermanentError
from promotions.models import Approval, AuditEvent, Profile

# system -> Profile field
LINK_FIELDS = {**Profile.HOST_FIELDS, "slack": "chat_user_id", "mattermost": "mattermost_user_id"}
HOST_SYSTEMS = tuple(Profile.HOST_FIELDS)  # logins there ignore case
HOST_TITLES = {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea"}


@dataclass(frozen=True)
class Proposal:
    """An outside identity seen acting (a GitHub review, a chat command) whose name equals a username."""

    username: str
    system: str
    identity: str
    seen: str  # where it was seen, for the admin deciding


def identity_link(*, user: User, system: str, identity: str, actor: str) -> None:
    """Link `identity` on `system` to `user` (replacing the user's earlier link there); audited."""
    field = LINK_FIELDS[system]
    identity = identity.strip()
    if not identity:
        raise PermanentError(f"give the {system} identity to link")
    lookup = {f"{field}__iexact" if system in HOST_SYSTEMS else field: identity}
    taken = Profile.objects.filter(**lookup).exclude(user=user).select_related("user").first()
    if taken is not None:
        raise PermanentError(f"{system} {identity} is already linked to {taken.user.get_username()}; unlink it first")
    with transaction.atomic():
        profile, _ = Profile.objects.get_or_create(user=user)
        before = getattr(profile, field)
        setattr(profile, field, identity)
        profile.save(update_fields=[field])
        audit_record(action="identity.linked", actor=actor, message=f"{system} {identity} → {user.get_username()}",
                     targets={"user": user.get_username(), "system": system},
                     before={field: before}, after={field: identity})  # fmt: skip


def identity_unlink(*, user: User, system: str, actor: str) -> None:
    field = LINK_FIELDS[system]
    profile = Profile.objects.filter(user=user).first()
    before = getattr(profile, field) if profile else None
    if profile is None or before is None:
        return
    with transaction.atomic():
        setattr(profile, field, None)
        profile.save(update_fields=[field])
        audit_record(action="identity.unlinked", actor=actor, message=f"{system} {before} ↛ {user.get_username()}",
                     targets={"user": user.get_username(), "system": system}, before={field: before},
                     after={field: None})  # fmt: skip


def identity_proposals() -> list[Proposal]:
    """Unlinked GitHub reviewers and chat users whose name equals an active user's username, for an
    admin to confirm one by one (the old same-name rule, made explicit)."""
    users = {u.username.lower(): u for u in User.objects.filter(is_active=True).select_related("profile")}
    found: dict[tuple[str, str, str], Proposal] = {}
    unlinked = Approval.objects.filter(source__in=HOST_SYSTEMS, user__isnull=True).values_list("source", "reviewer")
    for host, login in unlinked:
        _propose(found, users, login, host, login, f"{HOST_TITLES[host]} review")
    for event in AuditEvent.objects.filter(action="chatops.unlinked").only("targets", "at"):
        targets = event.targets or {}
        system, user_id = str(targets.get("system", "")), str(targets.get("user_id", ""))
        if system in LINK_FIELDS and user_id:
            name, seen = str(targets.get("user_name", "")), f"chat command on {event.at:%Y-%m-%d}"
            _propose(found, users, name, system, user_id, seen)
    return sorted(found.values(), key=lambda p: (p.username, p.system, p.identity))


def _propose(found: dict[tuple[str, str, str], Proposal], users: dict[str, User], name: str, system: str,
             identity: str, seen: str) -> None:  # fmt: skip
    user = users.get(name.lower())
    field = LINK_FIELDS[system]
    caseless = f"{field}__iexact" if system in HOST_SYSTEMS else field
    if user is None or Profile.objects.filter(**{caseless: identity}).exists():
        return
    profile = getattr(user, "profile", None)
    if profile is not None and getattr(profile, LINK_FIELDS[system]):
        return  # this user already has a link on that system: nothing to propose
    found.setdefault((user.username, system, identity), Proposal(user.username, system, identity, seen))
