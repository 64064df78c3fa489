from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from promotions.web.login import PortalLoginView

urlpatterns = [
    path("login/", PortalLoginView.as_view(), name="login"),
    # Single sign-on: /oidc/authenticate/ and /oidc/callback/ (the redirect URI to register); 404 when off.
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("promotions.api.urls")),
    path("", include("promotions.inbound.urls")),
    path("", include("promotions.web.urls")),
]

# JSON under /api/ (503 when the database is the cause), Django's page elsewhere.
handler500 = "promotions.api.errors.server_error"
