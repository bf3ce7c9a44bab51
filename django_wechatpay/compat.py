"""Differences between the Django versions we support (4.2, 5.2, 6.x)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django
from asgiref.sync import async_to_sync
from django import forms
from django.db import models
from django.dispatch import Signal

__all__ = ["check_constraint", "live_receivers", "url_form_field"]


def check_constraint(condition: models.Q, name: str) -> models.CheckConstraint:
    """``CheckConstraint(check=…)`` until Django 5.1, ``condition=…`` since (6.0 drops check)."""
    if django.VERSION >= (5, 1):
        return models.CheckConstraint(condition=condition, name=name)
    return models.CheckConstraint(check=condition, name=name)


def url_form_field(**kwargs: Any) -> forms.URLField:
    """A form URLField that assumes https for bare hosts (the 6.0 default) on every version."""
    if django.VERSION >= (5, 0):
        kwargs.setdefault("assume_scheme", "https")
    return forms.URLField(**kwargs)


def live_receivers(signal: Signal, sender: type) -> list[Callable[..., Any]]:
    """The receivers ``signal.send(sender)`` would call, in order.

    Django 5.0 split them into sync and async ones; async ones are wrapped to be called
    like the others.
    """
    found: Any = signal._live_receivers(sender)
    if isinstance(found, tuple):
        sync_receivers, async_receivers = found
        return [*sync_receivers, *(async_to_sync(r) for r in async_receivers)]
    return list(found)
