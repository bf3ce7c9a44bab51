"""Differences between the Django versions we support (4.2, 5.2, 6.x)."""

from __future__ import annotations

from typing import Any

import django
from django import forms
from django.db import models


def check_constraint(condition: models.Q, name: str) -> models.CheckConstraint:
    """``CheckConstraint(check=…)`` until Django 5.1, ``condition=…`` since (6.0 drops check)."""
    if django.VERSION >= (5, 1):
        return models.CheckConstraint(condition=condition, name=name)
    return models.CheckConstraint(check=condition, name=name)  # type: ignore[call-arg]


def url_form_field(**kwargs: Any) -> forms.URLField:
    """A form URLField that assumes https for bare hosts (the 6.0 default) on every version."""
    if django.VERSION >= (5, 0):
        kwargs.setdefault("assume_scheme", "https")
    return forms.URLField(**kwargs)
