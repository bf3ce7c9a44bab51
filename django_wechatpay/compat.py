"""Differences between the Django versions we support (4.2, 5.2, 6.x)."""

from __future__ import annotations

import django
from django.db import models


def check_constraint(condition: models.Q, name: str) -> models.CheckConstraint:
    """``CheckConstraint(check=…)`` until Django 5.1, ``condition=…`` since (6.0 drops check)."""
    if django.VERSION >= (5, 1):
        return models.CheckConstraint(condition=condition, name=name)
    return models.CheckConstraint(check=condition, name=name)  # type: ignore[call-arg]
