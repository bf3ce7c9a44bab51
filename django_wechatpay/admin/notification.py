from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import NotificationLog, NotificationStatus
from ..notify import reprocess
from .display import LabelledForm, ReadOnly, column, pretty_json, state_badge, titled

__all__ = ["REPROCESS_PERMISSION", "NotificationLogAdmin"]

#: Processing a notification again can pay an order or a refund. The log itself is
#: read-only, so its (otherwise unused) change permission is what allows it.
REPROCESS_PERMISSION = "django_wechatpay.change_notificationlog"


@admin.register(NotificationLog)
class NotificationLogAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only: the log is evidence of what WeChat Pay (or someone) sent."""

    form = LabelledForm
    # The delivered id (a UUID) is searched for, not read: on the page, not in the list.
    list_display = (
        column("received_at", _("received")),
        "mchid",
        "event_type",
        "status_display",
        "rejection_reason",
        "response_status",
    )
    list_filter = (
        "status",
        "event_type",
        "rejection_reason",
        ("merchant", titled(_("merchant"))),
        "received_at",
    )
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

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: NotificationLog) -> str:
        return state_badge(obj.status, obj.get_status_display())

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

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REPROCESS_PERMISSION)

    @admin.action(description=_("Process again"), permissions=["reprocess"])
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
