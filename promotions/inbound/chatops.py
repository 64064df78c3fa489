"""Slash commands from chat (Slack, Mattermost): the same services, rules and audit as the UI.

status [APP]                      what runs where
promote APP to STAGE [VERSION]    from STAGE's upstream
approve ID | reject ID REASON     review a promotion
rollback APP in STAGE             back to the version before
help
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from promotions.audit.chain import audit_context, audit_record
from promotions.catalogue.loader import catalog_get
from promotions.catalogue.lookups import Catalog
from promotions.errors import PortalError
from promotions.links import promotion_link
from promotions.models import Profile, Promotion, StageVersion
from promotions.reviews.approvals import approval_submit, promotion_reject
from promotions.workflow import store
from promotions.workflow.permissions import who
from promotions.workflow.request import promotion_request
from promotions.workflow.rollback import promotion_rollback
from promotions.workflow.store import NotReadYet, store_wait

HELP = (
    "*GitOps Portal* commands:\n"
    "• `status [APP]`: what runs where\n"
    "• `promote APP to STAGE [VERSION]`: from STAGE's upstream (the stage before it)\n"
    "• `approve ID` · `reject ID REASON`\n"
    "• `rollback APP in STAGE`: back to the version before\n"
    "• `help`"
)
COMMANDS = [
    ("status", re.compile(r"^status(?:\s+(?P<app>\S+))?$")),
    ("promote", re.compile(r"^promote\s+(?P<app>\S+)\s+to\s+(?P<stage>\S+)(?:\s+(?P<version>\S+))?$")),
    ("approve", re.compile(r"^approve\s+#?(?P<id>\d+)$")),
    ("reject", re.compile(r"^reject\s+#?(?P<id>\d+)\s+(?P<reason>.+)$")),
    ("rollback", re.compile(r"^rollback\s+(?P<app>\S+)\s+in\s+(?P<stage>\S+)$")),
]


CHAT_SYSTEMS = {"slack": ("Slack", "chat_user_id"), "mattermost": ("Mattermost", "mattermost_user_id")}


def slash_command(form: Mapping[str, str], *, system: str = "slack") -> dict[str, Any]:
    """The answer to one (already verified) slash command from `system` (slack or mattermost)."""
    text = " ".join(form.get("text", "").split())
    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    for name, pattern in COMMANDS:
        match = pattern.match(text)
        if match:
            return _run(name, match.groupdict(), form, catalog, system)
    return _reply(HELP if text in ("", "help") else f"I don't understand `{text}`.\n{HELP}")


def _run(name: str, args: dict[str, str], form: Mapping[str, str], catalog: Catalog, system: str) -> dict[str, Any]:
    if name == "status":
        return _not_read_yet(catalog) or _reply(_status(catalog, args.get("app")))
    user_id = form.get("user_id", "")
    user = chat_user(system, user_id)
    if user is None or not user.is_active:
        return _reply(_unknown(system, user_id, form.get("user_name", ""), user))
    if name in ("promote", "rollback") and (waiting := _not_read_yet(catalog)):
        return waiting
    try:
        with audit_context(source="chatops"):
            promotion, summary = ACTIONS[name](args, user, catalog)
    except PortalError as exc:
        return _reply(f"Refused: {exc}")
    return _reply(f"{summary} {_link(promotion)}", public=True)


def _not_read_yet(catalog: Catalog) -> dict[str, Any] | None:
    """On a fresh server, a worker's first read of Git, waited for briefly (chat wants an answer
    within 3 s); the reply saying when to ask again if it takes longer."""
    try:
        store_wait(catalog=catalog, wait=store.CHAT_WAIT)
    except NotReadYet as exc:
        return _reply(f"I have not read Git yet: {exc}.")
    return None


def chat_user(system: str, user_id: str) -> User | None:
    """The portal user an admin linked to this chat user id (active or not: the caller checks).
    A chat user *name* never counts: anyone can pick one."""
    if not user_id:
        return None
    field = CHAT_SYSTEMS[system][1]
    profile = Profile.objects.filter(**{field: user_id}).select_related("user").first()
    return profile.user if profile else None


def _unknown(system: str, user_id: str, user_name: str, user: User | None) -> str:
    """Why a chat user may not change anything, and how to get linked; recorded so that an admin
    can confirm links later (`manage.py identity_links propose`)."""
    label = CHAT_SYSTEMS[system][0]
    with audit_context(source="chatops"):
        audit_record(action="chatops.unlinked", actor=f"{system}:{user_id}"[:150],
                     message=f"{label} user {user_name or '?'} ({user_id or 'no id'}) tried a change",
                     targets={"system": system, "user_id": user_id[:100], "user_name": user_name[:100],
                              "linked_to": user.get_username() if user else None})  # fmt: skip
    if user is not None:
        return f"Your linked portal account ({user.get_username()}) is deactivated: ask an admin."
    return (f"I don't know you: your {label} user id `{user_id or '?'}` is not linked to a portal account. "
            f"Ask an admin to link it (`manage.py identity_links link USERNAME --{system} {user_id or 'ID'}`, "
            "or the user's page in the admin). Until then you can use `status` and `help`.")  # fmt: skip


def _promote(args: dict[str, str], user: User, catalog: Catalog) -> tuple[Promotion, str]:
    stage, stages = args["stage"], catalog.stage_names
    present = set(
        StageVersion.objects.filter(application=args["app"], path__isnull=False).values_list("stage", flat=True)
    )
    upstreams = catalog.nearest_upstreams(stage, present) if stage in stages else []  # along the stage graph
    promotion = promotion_request(
        catalog=catalog,
        applications=[args["app"]],
        from_stage=upstreams[0] if upstreams else "",
        to_stage=stage,
        version=args.get("version"),
        requested_by=user,
        actor=user.get_username(),
        reason="requested from chat",
    )
    return promotion, f"{user.get_username()} requested: {promotion.title}."


def _approve(args: dict[str, str], user: User, catalog: Catalog) -> tuple[Promotion, str]:
    promotion = _promotion(args["id"])
    status = approval_submit(promotion=promotion, actor=who(user, catalog), source="chatops")
    return promotion, f"{user.get_username()} approved #{promotion.pk} ({status.summary})."


def _reject(args: dict[str, str], user: User, catalog: Catalog) -> tuple[Promotion, str]:
    promotion = _promotion(args["id"])
    promotion_reject(promotion=promotion, actor=who(user, catalog), reason=args["reason"], source="chatops")
    return promotion, f"{user.get_username()} rejected #{promotion.pk}: {args['reason']}"


def _rollback(args: dict[str, str], user: User, catalog: Catalog) -> tuple[Promotion, str]:
    promotion = promotion_rollback(catalog=catalog, application=args["app"], stage=args["stage"], requested_by=user,
                                   actor=user.get_username(), reason="rolled back from chat")  # fmt: skip
    return promotion, f"{user.get_username()} requested: {promotion.title}."


ACTIONS = {"promote": _promote, "approve": _approve, "reject": _reject, "rollback": _rollback}


def _promotion(raw_id: str) -> Promotion:
    promotion = Promotion.objects.filter(pk=int(raw_id)).first()
    if promotion is None:
        raise PortalError(f"no promotion #{raw_id}")
    return promotion


def _status(catalog: Catalog, app: str | None) -> str:
    rows = StageVersion.objects.filter(path__isnull=False).order_by("application")
    if app:
        rows = rows.filter(application=app)
        if not rows.exists():
            return f"No application named `{app}`."
    by_app: dict[str, dict[str, str]] = {}
    for cell in rows[:400]:
        by_app.setdefault(cell.application, {})[cell.stage] = cell.version or "error"
    lines = [f"`{name}` " + " → ".join(f"{s} {cells[s]}" for s in catalog.stage_names if s in cells)
             for name, cells in list(by_app.items())[:40]]  # fmt: skip
    more = f"\n…and {len(by_app) - 40} more: {settings.GITOPS_PORTAL_URL}" if len(by_app) > 40 else ""
    return "\n".join(lines) + more


def _link(promotion: Promotion) -> str:
    return f"<{promotion_link(promotion.pk)}|#{promotion.pk}>"


def _reply(text: str, *, public: bool = False) -> dict[str, Any]:
    return {"response_type": "in_channel" if public else "ephemeral", "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}  # fmt: skip
