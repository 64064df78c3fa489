from django.urls import path

from promotions import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("refresh/", views.refresh, name="refresh"),
    path("apps/<str:name>/", views.application_detail, name="application"),
]
