from django.urls import path

from promotions import views, views_audit, views_hooks, views_notifications, views_promotions, views_tokens

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("refresh/", views.refresh, name="refresh"),
    path("refresh/live/", views.refresh_live, name="refresh-live"),
    path("apps/<str:name>/", views.application_detail, name="application"),
    path("apps/<str:name>/rollback/", views_promotions.rollback, name="rollback"),
    path("approvals/", views_promotions.approvals_inbox, name="approvals"),
    path("audit/", views_audit.audit_log, name="audit"),
    path("notifications/", views_notifications.notification_log, name="notifications"),
    path("tokens/", views_tokens.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views_tokens.token_revoke, name="token-revoke"),
    path("webhooks/github/", views_hooks.github_webhook, name="github-webhook"),
    path("chatops/slack/", views_hooks.slack_command, name="slack-command"),
    path("chatops/mattermost/", views_hooks.mattermost_command, name="mattermost-command"),
    path("promote/", views_promotions.promote, name="promote"),
    path("promotions/", views_promotions.promotion_list, name="promotions"),
    path("promotions/<int:promotion_id>/", views_promotions.promotion_detail, name="promotion"),
    path("promotions/<int:promotion_id>/<str:action>/", views_promotions.promotion_action, name="promotion-action"),
]
