from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from promotions.api import serializers as s
from promotions.api import views
from promotions.api.errors import not_found

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("stages", views.Stages.as_view(), name="api-stages"),
    path("matrix", views.Matrix.as_view(), name="api-matrix"),
    path("applications", views.Applications.as_view(), name="api-applications"),
    path("applications/<str:name>", views.ApplicationDetail.as_view(), name="api-application"),
    path("applications/<str:name>/history", views.ApplicationHistory.as_view(), name="api-history"),
    path("promotions", views.Promotions.as_view(), name="api-promotions"),
    path("promotions/<int:promotion_id>", views.PromotionDetail.as_view(), name="api-promotion"),
    path("promotions/<int:promotion_id>/approve",
         views.action_view("approve", "Approve (as an approver, never your own)", s.Comment).as_view(),
         name="api-approve"),
    path("promotions/<int:promotion_id>/reject",
         views.action_view("reject", "Reject with a reason (closes the pull request)", s.Reason).as_view(),
         name="api-reject"),
    path("promotions/<int:promotion_id>/merge",
         views.action_view("merge", "Merge once approved", s.MergeInput).as_view(), name="api-merge"),
    path("promotions/<int:promotion_id>/cancel",
         views.action_view("cancel", "Cancel a waiting promotion", s.OptionalReason).as_view(), name="api-cancel"),
    path("rollbacks", views.Rollbacks.as_view(), name="api-rollbacks"),
    path("releases", views.Releases.as_view(), name="api-releases"),
    path("audit-events", views.AuditEvents.as_view(), name="api-audit"),
    path("insights", views.Insights.as_view(), name="api-insights"),
    path("tokens", views.Tokens.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>", views.TokenDetail.as_view(), name="api-token"),
    re_path(r"^(?P<path>.*)$", not_found),  # JSON, never Django's HTML page: unknown paths, non-numeric ids
]  # fmt: skip
