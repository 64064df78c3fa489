"""Words for the values machines read: `{% load labels %}`, then `{{ event.action|action_label }}`
("Approval given") or `{{ "pr_open"|state_label }}` ("Pull request open"). The words themselves are
kept in one place each: the model's choices (`Promotion.State`) and `models.audit.ACTION_LABELS`."""

from __future__ import annotations

from django import template

from promotions.models import Promotion
from promotions.models.audit import action_label as _action_label

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    """An audit action in words: `operator.sync_requested` → "Asked the operator to sync"."""
    return _action_label(str(action))


@register.filter
def state_label(state: str) -> str:
    """A promotion state in words (`pr_open` → "Pull request open"); an unknown value as given."""
    value = str(state)
    return Promotion.State(value).label if value in Promotion.State.values else value
