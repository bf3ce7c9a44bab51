"""Rendering helpers shared by the admin pages: money, JSON, labels, filters, states."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

__all__ = [
    "FIELD_LABELS",
    "LabelledForm",
    "ReadOnly",
    "column",
    "pretty_json",
    "sections",
    "short_time",
    "state_badge",
    "titled",
    "with_note",
    "yuan",
]

#: What the admin calls the fields whose model ``verbose_name`` is missing (a foreign
#: key without one reads "Merchant" in every language) or is WeChat Pay's parameter name
#: (``Out_trade_no:``). Read-only rows and inline headers take these (through
#: :class:`LabelledForm`; list columns through :func:`column`, filters through
#: :func:`titled`); once the models carry the same verbose names it changes nothing.
FIELD_LABELS: dict[str, str | Promise] = {
    "merchant": _("merchant"),
    "user": _("user"),
    "order": _("order"),
    "run": _("reconciliation run"),
    "requested_by": _("requested by"),
    "duplicate_of": _("duplicate of"),
    "out_trade_no": _("order number"),
    "out_refund_no": _("refund number"),
    "appid": _("AppID"),
    "prepay_id": _("prepay ID"),
    "code_url": _("QR code link"),
    "h5_url": _("H5 payment link"),
    "sub_mchid": _("sub-merchant ID"),
    "sub_appid": _("sub-merchant AppID"),
}


class LabelledForm(forms.ModelForm):
    """The admin form of a model whose fields are labelled by :data:`FIELD_LABELS`.

    Django's read-only fields and tabular inline headers read ``Meta.labels`` before the
    model's verbose names; ``modelform_factory`` keeps this Meta as the base of its own.
    """

    class Meta:
        labels = FIELD_LABELS


def titled(title: str | Promise) -> type[admin.FieldListFilter]:
    """A related-field filter with a title of ours (the default is the field's verbose
    name: "By merchant", untranslated, for a foreign key without one)."""

    class TitledFilter(admin.RelatedFieldListFilter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # A filter is built for each request: str() is the request's language.
            self.title = str(title)

    return TitledFilter


def short_time(value: datetime | None) -> str:
    """A moment as ``2026-12-01 00:16``, on one line: the locale's own formats (``2026年
    12月1日 00:16``, ``Dec. 1, 2026, 12:16 a.m.``) make a list column wider than the rest
    of the row, and every reader of WeChat Pay's bills reads this one."""
    if value is None:
        return "—"
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return format_html(
        '<span style="white-space: nowrap">{}</span>', value.strftime("%Y-%m-%d %H:%M")
    )


def with_note(value: Any, note: Any, *, title: str = "") -> str:
    """``value`` with ``note`` in small grey type under it: a second fact in a list
    column without a column of its own (a column more makes the list scroll at 1280 px)."""
    return format_html(
        '{}<br><span style="font-size: 11px; color: var(--body-quiet-color, #666)"'
        ' title="{}">{}</span>',
        value,
        title,
        note,
    )


def column(
    name: str, label: str | Promise, *, ordering: str | None = None
) -> Callable[[Model], Any]:
    """A changelist column showing the field ``name`` under ``label``: a column header
    comes from the model's verbose name, which forms' labels do not reach. Times are
    shown short."""

    def value(obj: Model) -> Any:
        found = getattr(obj, name)
        return short_time(found) if isinstance(found, datetime) else found

    value.short_description = label  # type: ignore[attr-defined]
    value.admin_order_field = ordering or name  # type: ignore[attr-defined]
    value.__name__ = name
    return value


Section = tuple[str | Promise | None, dict[str, Any]]


def sections(
    model: type[Model],
    layout: list[tuple[str | Promise | None, tuple[str, ...]]],
    *,
    instead: dict[str, str] | None = None,
    optional: tuple[str, ...] = (),
    obj: Model | None = None,
    collapsed: tuple[str | Promise | None, ...] = (),
) -> list[Section]:
    """Admin fieldsets from ``layout``, the page read top-down by what matters.

    ``instead`` names the display replacing a model field (``amount`` → its yuan); an
    ``optional`` field is left out while empty (the sub-merchant of a direct merchant).
    A model field the layout does not place lands in a last section, "More": a field
    added to the model later is never silently missing from the page."""
    instead = instead or {}
    placed = {name for _title, names in layout for name in names} | set(instead)

    def shown(name: str) -> bool:
        if obj is None or name not in optional:
            return True
        value = getattr(obj, name, None)
        return value is not False and value not in (None, "", {}, [])

    rest = tuple(f.name for f in model._meta.fields if f.name not in placed and f.name != "id")
    result: list[Section] = []
    for title, names in [*layout, (_("More"), rest)]:
        kept = tuple(name for name in names if shown(name))
        if kept:
            options: dict[str, Any] = {"fields": kept}
            if title in collapsed:
                options["classes"] = ("collapse",)
            result.append((title, options))
    return result


def yuan(fen: int | None) -> str:
    """Integer fen as yuan for people: ``12345`` → ``¥123.45``."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def pretty_json(value: Any) -> str:
    if value in (None, "", {}, []):
        return "—"
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


#: The colour of a state, by what it means to the shop (the states' own names vary).
TONES = {
    "good": ("#e7f8ee", "#07843f"),
    "bad": ("#fdecea", "#ba2121"),
    "waiting": ("#fff4e0", "#8a5a00"),
    "done": ("#eeeeee", "#555555"),
}
STATE_TONES = {
    "SUCCESS": "good",
    "REFUND": "done",
    "CLOSED": "done",
    "REVOKED": "done",
    "PAYERROR": "bad",
    "FAILED": "bad",
    "ABNORMAL": "bad",
    "NOTPAY": "waiting",
    "USERPAYING": "waiting",
    "CREATED": "waiting",
    "PROCESSING": "waiting",
    # Notifications (NotificationStatus) and deliveries (DeliveryStatus).
    "processed": "good",
    "delivered": "good",
    "duplicate": "done",
    "received": "waiting",
    "pending": "waiting",
    "unmatched": "waiting",
    "rejected": "bad",
    "failed": "bad",
    "given_up": "bad",
}


def state_badge(value: str, label: Any) -> str:
    """A state as a coloured label that never wraps (``退款成功`` in a narrow column
    would otherwise stand one character a line)."""
    background, colour = TONES[STATE_TONES.get(value, "done")]
    return format_html(
        '<span class="wxp-state wxp-state-{}" style="white-space: nowrap; padding: 1px 6px; '
        'border-radius: 3px; background: {}; color: {}">{}</span>',
        value.lower(),
        background,
        colour,
        label,
    )


class ReadOnly:
    """For a model admin whose rows are records nobody edits by hand (its actions may
    still act on them)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
