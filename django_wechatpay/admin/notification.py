from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import NotificationLog, NotificationStatus
from ..notify import reprocess
from .display import pretty_json

__all__ = ["NotificationLogAdmin"]


@admin.register(NotificationLog)
class NotificationLogAdmin(admin.ModelAdmin):
    """Read-only: the log is evidence of what WeChat Pay (or someone) sent."""

    list_display = (
        "received_at",
        "mchid",
        "event_type",
        "status",
        "rejection_reason",
        "response_status",
        "delivered_id",
    )
    list_filter = ("status", "event_type", "rejection_reason", "merchant", "received_at")
    list_select_related = ("merchant",)
    search_fields = ("delivered_id", "notification_id", "mchid")
    date_hierarchy = "received_at"
    actions = ("reprocess_selected",)
    exclude = ("body", "headers", "resource")
    readonly_fields = [
        f.name
        for f in NotificationLog._meta.fields
        if f.name not in ("body", "headers", "resource")
    ] + ["headers_display", "body_display", "resource_display"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("headers"))
    def headers_display(self, obj: NotificationLog) -> str:
        return pretty_json(obj.headers)

    @admin.display(description=_("raw body"))
    def body_display(self, obj: NotificationLog) -> str:
        raw = bytes(obj.body)
        try:
            import json

            return pretty_json(json.loads(raw))
        except ValueError:
            return f"<{len(raw)} bytes>"

    @admin.display(description=_("decrypted resource"))
    def resource_display(self, obj: NotificationLog) -> str:
        return pretty_json(obj.resource)

    @admin.action(description=_("Process again"), permissions=["view"])
    def reprocess_selected(self, request: HttpRequest, queryset: QuerySet[NotificationLog]) -> None:
        for log in queryset.filter(
            status__in=[NotificationStatus.FAILED, NotificationStatus.REJECTED]
        ):
            outcome = reprocess(log)
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            self.message_user(
                request,
                _("Notification %(log)s: HTTP %(status)s %(message)s")
                % {"log": log, "status": outcome.status, "message": outcome.message},
                level,
            )
