"""The Celery application. Workers: ``celery -A exportportal worker``; beat: ``... beat``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exportportal.settings")

app = Celery("exportportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
