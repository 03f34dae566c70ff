from django.urls import path

from . import dictionary_views, views
from .data_dictionary import DICTIONARY_PATH

app_name = "exports"

urlpatterns = [
    path("requests/<int:pk>/manifest.csv", views.manifest_download, name="manifest-download"),
    path("requests/<int:pk>/passwords/", views.reveal_passwords, name="reveal-passwords"),
    path("requests/<int:pk>/delete-early/", views.early_deletion, name="early-deletion"),
    path("fhir/keys/", views.smart_keys, name="smart-keys"),
    path("fhir/jwks.json", views.smart_jwks, name="smart-jwks"),
    path(DICTIONARY_PATH, dictionary_views.data_dictionary, name="data-dictionary"),
]
