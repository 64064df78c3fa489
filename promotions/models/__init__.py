"""What the portal stores. The catalogue (config file) and Git are the sources of truth;
these tables hold the last read of them so pages never wait on Git. One module per concept."""

from promotions.models.audit import AuditArchive, AuditEvent, AuditQuerySet
from promotions.models.draft import CatalogueDraft
from promotions.models.hooks import WebhookDelivery
from promotions.models.live import LiveState, SourceStatus
from promotions.models.notification import NotificationDelivery
from promotions.models.promotion import Pin, Promotion, PromotionItem
from promotions.models.repository import RepositoryState, StageVersion
from promotions.models.review import Approval, Profile
from promotions.models.token import ApiToken

__all__ = [
    "ApiToken",
    "Approval",
    "AuditArchive",
    "AuditEvent",
    "AuditQuerySet",
    "CatalogueDraft",
    "LiveState",
    "NotificationDelivery",
    "Pin",
    "Profile",
    "Promotion",
    "PromotionItem",
    "RepositoryState",
    "SourceStatus",
    "StageVersion",
    "WebhookDelivery",
]
