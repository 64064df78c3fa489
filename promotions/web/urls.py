"""The browser UI's URLs (the API's are in `promotions.api.urls`, other systems' in `promotions.inbound.urls`)."""

from django.conf import settings
from django.urls import path
from django.views.generic.base import RedirectView

from promotions.web.views import (
    applications,
    audit,
    drafts,
    health,
    matrix,
    metrics,
    notifications,
    promotions,
    tokens,
)
from promotions.web.views.insights import insights_page

urlpatterns = [
    path("", matrix.dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Browsers ask for /favicon.ico whatever the page links: the SVG the pages link.
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}portal/favicon.svg", permanent=False)),
    path("metrics", metrics.metrics, name="metrics"),
    path("refresh/", matrix.refresh, name="refresh"),
    path("refresh/live/", matrix.refresh_live, name="refresh-live"),
    path("apps/<str:name>/", applications.application_detail, name="application"),
    path("apps/<str:name>/rollback/", applications.rollback, name="rollback"),
    path("approvals/", promotions.approvals_inbox, name="approvals"),
    path("audit/", audit.audit_log, name="audit"),
    path("insights/", insights_page, name="insights"),
    path("notifications/", notifications.notification_log, name="notifications"),
    path("repositories/new/", drafts.repository_new, name="repository-new"),
    path("repositories/drafts/<int:draft_id>/", drafts.catalogue_draft, name="catalogue-draft"),
    path(
        "repositories/drafts/<int:draft_id>/catalogue.yaml",
        drafts.catalogue_draft_download,
        name="catalogue-draft-download",
    ),
    path("tokens/", tokens.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token-revoke"),
    path("promote/", promotions.promote, name="promote"),
    path("promotions/", promotions.promotion_list, name="promotions"),
    path("promotions/<int:promotion_id>/", promotions.promotion_detail, name="promotion"),
    path("promotions/<int:promotion_id>/<str:action>/", promotions.promotion_action, name="promotion-action"),
]
