"""Settings of the Celery worker and beat started by tests/django/test_celery.py.

Same database as the test run (its test database), the merchant it registered with the
simulator, and the Redis broker it started.
"""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["WORKER_DATABASE_NAME"]  # noqa: F405
WECHATPAY = json.loads(os.environ["WORKER_WECHATPAY"])
CELERY_BROKER_URL = os.environ["WORKER_BROKER_URL"]
CELERY_BEAT_SCHEDULE = {
    "poll-orders": {"task": "django_wechatpay.tasks.poll_orders", "schedule": 1.0},
}
