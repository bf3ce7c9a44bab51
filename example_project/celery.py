"""The demo's Celery app: a filesystem broker, so the demo needs no Redis."""

from __future__ import annotations

import os

from celery import Celery

from django_wechatpay.tasks import beat_schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["django_wechatpay"])
app.conf.beat_schedule = beat_schedule()
