"""Who may do what, per stage: checked by the services (every entry point goes through
them) and asked by the pages to hide what a user may not do.

- request (promote, roll back): the stage's `requesters` groups; unset: any signed-in user
- approve / reject: the stage's `approvers` groups, never the requester (unless the
  stage allows self-approval)
- merge: approvers; cancel: the requester or approvers
- admins (top-level `admins` groups, and Django superusers) may do all of it, and are
  the only ones who may override a freeze
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User

from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import PromotionPolicy
from promotions.errors import PermanentError
from promotions.models import Promotion


class Denied(PermanentError):
    """Not allowed; the message says who may."""


@dataclass(frozen=True)
class Who:
    user: User | None
    groups: frozenset[str]
    admin: bool

    @property
    def name(self) -> str:
        return self.user.get_username() if self.user else "the portal"


def who(user: User | AnonymousUser | None, catalog: Catalog) -> Who:
    """The user's groups and admin status, read once (one query) per request."""
    if user is None or not user.is_authenticated:
        return Who(None, frozenset(), False)
    assert isinstance(user, User)
    cached = getattr(user, "_portal_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._portal_groups = cached  # type: ignore[attr-defined]
    return Who(user, cached, user.is_superuser or bool(cached & set(catalog.admins)))


def _policy(catalog: Catalog, stage: str) -> PromotionPolicy:
    config = catalog.stage(stage)
    if config is None:
        raise Denied(f"unknown stage {stage!r}")
    return config.promotion


def _groups(names: list[str]) -> str:
    return ", ".join(names) or "nobody"


def request_refusal(actor: Who, catalog: Catalog, stage: str) -> str | None:
    policy = _policy(catalog, stage)
    if actor.user is None or actor.admin or policy.requesters is None or actor.groups & set(policy.requesters):
        return None
    return f"{actor.name} may not request promotions into {stage} (requesters: {_groups(policy.requesters)})"


def approve_refusal(actor: Who, catalog: Catalog, promotion: Promotion) -> str | None:
    policy = _policy(catalog, promotion.to_stage)
    if actor.user is not None and actor.user.pk == promotion.requested_by_id and not policy.self_approval:
        return f"{actor.name} requested promotion #{promotion.pk} and may not approve or reject it"
    if actor.admin or actor.groups & set(policy.approvers):
        return None
    return f"{actor.name} may not review promotions into {promotion.to_stage} (approvers: {_groups(policy.approvers)})"


def merge_refusal(actor: Who, catalog: Catalog, promotion: Promotion) -> str | None:
    policy = _policy(catalog, promotion.to_stage)
    if actor.user is None or actor.admin or actor.groups & set(policy.approvers):
        return None
    if not policy.approvers and request_refusal(actor, catalog, promotion.to_stage) is None:
        return None  # no reviewers configured: whoever may request may merge
    return f"{actor.name} may not merge into {promotion.to_stage} (approvers: {_groups(policy.approvers)})"


def cancel_refusal(actor: Who, catalog: Catalog, promotion: Promotion) -> str | None:
    if actor.user is not None and actor.user.pk == promotion.requested_by_id:
        return None
    if merge_refusal(actor, catalog, promotion) is None:
        return None
    return f"{actor.name} may not cancel promotion #{promotion.pk} (its requester or an approver may)"


def require(refusal: str | None) -> None:
    if refusal is not None:
        raise Denied(refusal)
