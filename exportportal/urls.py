from django.contrib import admin
from django.urls import include, path

from .health_views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", include("accounts.urls")),
    path("", include("requests_app.urls")),
    path("", include("exports.urls")),
    path("django-admin/", admin.site.urls),
]
