"""The outbox in the admin: which announcements reached which receivers, and which did not."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..events import deliver
from ..models import DeliveryStatus, Event, EventDelivery
from .display import ReadOnly, column, pretty_json

__all__ = ["RETRY_PERMISSION", "EventAdmin", "EventDeliveryInline"]

RETRY_PERMISSION = "django_wechatpay.retry_event"
#: Deliveries a person should look at.
STUCK = (DeliveryStatus.FAILED, DeliveryStatus.GIVEN_UP)


class EventDeliveryInline(admin.TabularInline):
    model = EventDelivery
    extra = 0
    can_delete = False
    fields = ("receiver", "status", "attempts", "next_attempt_at", "delivered_at", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only, like the notification log; failed deliveries can be retried."""

    list_display = (column("created_at", _("created")), "signal", "order", "delivery_state")
    list_filter = ("deliveries__status", "signal", "created_at")
    list_select_related = ("order",)
    search_fields = ("event_id", "order__out_trade_no", "deliveries__receiver")
    date_hierarchy = "created_at"
    inlines = (EventDeliveryInline,)
    actions = ("retry_deliveries",)
    exclude = ("payload",)
    readonly_fields = ("event_id", "signal", "order", "created_at", "payload_display")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return super().get_queryset(request).prefetch_related("deliveries").distinct()

    @admin.display(description=_("deliveries"))
    def delivery_state(self, obj: Event) -> str:
        counts: dict[str, int] = {}
        for delivery in obj.deliveries.all():
            label = str(delivery.get_status_display())
            counts[label] = counts.get(label, 0) + 1
        return ", ".join(f"{label} {n}" for label, n in counts.items()) or "—"

    @admin.display(description=_("arguments"))
    def payload_display(self, obj: Event) -> str:
        return pretty_json(obj.payload)

    @admin.action(description=_("Retry failed deliveries now"), permissions=["retry"])
    def retry_deliveries(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        report = deliver(events=list(queryset.values_list("pk", flat=True)), due_only=False)
        level = messages.SUCCESS if not (report.failed or report.given_up) else messages.WARNING
        self.message_user(
            request,
            _("Delivered %(delivered)s, failed again %(failed)s, given up %(given_up)s.")
            % {
                "delivered": report.delivered,
                "failed": report.failed,
                "given_up": report.given_up,
            },
            level,
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        stuck = EventDelivery.objects.filter(status__in=STUCK).count()
        if stuck:
            self.message_user(
                request,
                ngettext(
                    "%(count)d receiver delivery has failed: a shop receiver did not run "
                    "for a payment or refund.",
                    "%(count)d receiver deliveries have failed: shop receivers did not run "
                    "for payments or refunds.",
                    stuck,
                )
                % {"count": stuck},
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)
