from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("promotions.api.urls")),
    path("", include("promotions.inbound.urls")),
    path("", include("promotions.web.urls")),
]

# JSON under /api/ (503 when the database is the cause), Django's page elsewhere.
handler500 = "promotions.api.errors.server_error"
