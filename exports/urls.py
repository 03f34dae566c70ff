from django.urls import path

from . import pipeline_views, views

app_name = "exports"

urlpatterns = [
    path("requests/<int:pk>/pipeline/", pipeline_views.pipeline_panel, name="pipeline-panel"),
    path(
        "requests/<int:pk>/manifest.csv", pipeline_views.manifest_download, name="manifest-download"
    ),
    path("requests/<int:pk>/passwords/", views.reveal_passwords, name="reveal-passwords"),
    path("requests/<int:pk>/delete-early/", views.early_deletion, name="early-deletion"),
]
