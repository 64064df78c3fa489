"""Portal users signing on through an OpenID Connect provider (the token checks are in `promotions.web.oidc`).

An IdP identity (issuer + `sub`) becomes a portal user only through the link on the user's Profile:
made at the identity's first sign-on (a new account), or by an admin (to hand an existing account
to it). A username or email address never links by itself: whoever controls an IdP account called
"admin" gets a new account, "admin-2", not the portal's admin.

Groups come from one claim through an allow-list (`group_map`): an IdP group that is not in the map
never becomes a portal group, and only mapped groups are ever removed, so groups given in the portal
alone stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction

from promotions.audit.chain import audit_record
from promotions.errors import PermanentError
from promotions.models import Profile

_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")
_INACTIVE = {"false", "0", "no", "inactive", "disabled"}


class OidcRefused(PermanentError):
    """This sign-on is refused; the message says why, for the login page and the audit history."""


@dataclass(frozen=True)
class OidcPolicy:
    """How claims become a portal user: the issuer the identities belong to, the groups claim and its
    allow-list (IdP group -> portal groups), and an optional claim that says whether the user is active."""

    issuer: str
    groups_claim: str = "groups"
    group_map: Mapping[str, frozenset[str]] = field(default_factory=dict)
    active_claim: str = ""


def oidc_user_sign_on(*, claims: Mapping[str, Any], policy: OidcPolicy) -> User:
    """The portal user these (verified) claims sign on as: the linked one, updated, or a new one.
    Refuses an identity the IdP calls inactive and a linked portal user who is inactive."""
    subject = str(claims.get("sub") or "")
    if not subject:
        raise OidcRefused("the identity provider sent no subject (sub)")
    if policy.active_claim and str(claims.get(policy.active_claim, True)).strip().lower() in _INACTIVE:
        raise OidcRefused(f"the identity provider marks this account inactive ({policy.active_claim})")
    with transaction.atomic():
        user = oidc_user_linked(issuer=policy.issuer, subject=subject)
        if user is None:
            user = _user_create(claims=claims, policy=policy, subject=subject)
        elif not user.is_active:
            raise OidcRefused(f"the portal account {user.get_username()} is deactivated")
        else:
            _email_update(user, claims)
        oidc_groups_sync(user=user, claimed=_claimed_groups(claims, policy.groups_claim), group_map=policy.group_map)
    return user


def oidc_user_linked(*, issuer: str, subject: str) -> User | None:
    """The portal user linked to this IdP identity, if any (active or not)."""
    profile = Profile.objects.select_related("user").filter(oidc_issuer=issuer, oidc_subject=subject).first()
    return profile.user if profile is not None else None


def oidc_groups_sync(*, user: User, claimed: Iterable[str], group_map: Mapping[str, frozenset[str]]) -> None:
    """Give `user` the portal groups its mapped IdP groups name and take away the other mapped ones;
    groups outside the map are neither given nor taken. Audited when something changes."""
    managed = set().union(*group_map.values()) if group_map else set()
    wanted = set().union(*(group_map.get(name, frozenset()) for name in claimed)) if claimed else set()
    held = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
    added, removed = sorted(wanted - held), sorted(held - wanted)
    if not added and not removed:
        return
    user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in added))
    user.groups.remove(*Group.objects.filter(name__in=removed))
    audit_record(action="auth.groups_synced", actor=user.get_username(),
                 message=_change_text(added, removed), targets={"user": user.get_username()},
                 before=sorted(held), after=sorted(wanted))  # fmt: skip


def oidc_username_pick(preferred: str, *, subject: str) -> str:
    """A free username: `preferred` (cleaned) when no account has it, else `preferred-2`, `-3`, …"""
    base = _USERNAME_UNSAFE.sub("", preferred)[:140] or "sso-" + _USERNAME_UNSAFE.sub("", subject)[:100]
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _user_create(*, claims: Mapping[str, Any], policy: OidcPolicy, subject: str) -> User:
    preferred = str(claims.get("preferred_username") or str(claims.get("email") or "").partition("@")[0])
    username = oidc_username_pick(preferred, subject=subject)
    try:
        with transaction.atomic():
            user = User.objects.create_user(username, email=str(claims.get("email") or ""))
            user.set_unusable_password()  # single sign-on only: never a password nobody chose
            user.save(update_fields=["password"])
            Profile.objects.create(user=user, oidc_issuer=policy.issuer, oidc_subject=subject)
    except IntegrityError:  # the same identity signing on twice at once
        raise OidcRefused("this identity is being set up by another sign-on; try again") from None
    audit_record(action="auth.oidc_user_created", actor=username,
                 message=f"account {username} for {preferred or subject} at {policy.issuer}",
                 targets={"user": username, "issuer": policy.issuer, "subject": subject})  # fmt: skip
    return user


def _email_update(user: User, claims: Mapping[str, Any]) -> None:
    email = str(claims.get("email") or "")
    if email and email != user.email:
        user.email = email
        user.save(update_fields=["email"])


def _claimed_groups(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims.get(name) or []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, list | tuple) else []


def _change_text(added: list[str], removed: list[str]) -> str:
    parts = ([f"+{', +'.join(added)}"] if added else []) + ([f"-{', -'.join(removed)}"] if removed else [])
    return "groups " + ", ".join(parts)
