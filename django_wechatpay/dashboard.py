"""The figures of the admin overview: what a shop owner wants to see first.

Pure reads, one aggregate query per figure, per Beijing day (the day of WeChat Pay's
bills). The admin page (``admin/overview.py``) draws them as server-side SVG: no chart
library, no CDN.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, DateField, QuerySet, Sum
from django.db.models.functions import Cast, TruncDate

from .core.beijing import BEIJING_TZ, beijing_day_bounds, beijing_now
from .models import (
    DeliveryStatus,
    EventDelivery,
    NotificationLog,
    NotificationStatus,
    Order,
    ReconciliationRun,
    Refund,
    RunStatus,
)
from .states import TRADE_PAID, RefundStatus
from .timezones import to_db

__all__ = ["Bar", "Chart", "Day", "Overview", "Tick", "overview"]

#: The chart's drawing, in SVG units (the page scales it to its width: about one unit a
#: pixel at 1280 px). The left margin holds the amounts, the bottom one the dates.
CHART_WIDTH = 860
CHART_HEIGHT = 200
PLOT_LEFT = 64
PLOT_RIGHT = CHART_WIDTH - 20  # room for the last date, centred under its bars
PLOT_TOP = 10
PLOT_BOTTOM = 176


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def _nice_top(fen: int) -> int:
    """The axis' top: the largest day rounded up to 1, 2 or 5 times a power of ten yuan
    (so that the gridlines read ¥250 / ¥500, not ¥227.01)."""
    yuan = max(fen, 100) / 100
    power = 1.0
    while power * 10 <= yuan:
        power *= 10
    for step in (1, 2, 5, 10):
        if step * power >= yuan:
            return round(step * power * 100)
    return round(10 * power * 100)  # pragma: no cover -- the loop always returns


@dataclass(frozen=True)
class Bar:
    day: date
    takings: int
    refunds: int
    #: SVG geometry, precomputed so the template only places rectangles.
    x: float = 0
    width: float = 0
    takings_height: float = 0
    refunds_height: float = 0
    #: The date under the bar, or "" where the axis leaves it out.
    label: str = ""

    @property
    def takings_yuan(self) -> str:
        return _yuan(self.takings)

    @property
    def refunds_yuan(self) -> str:
        return _yuan(self.refunds)

    @property
    def takings_y(self) -> float:
        return PLOT_BOTTOM - self.takings_height

    @property
    def refunds_y(self) -> float:
        return PLOT_BOTTOM - self.refunds_height

    @property
    def refunds_x(self) -> float:
        return self.x + self.width

    @property
    def label_x(self) -> float:
        return self.x + self.width


@dataclass(frozen=True)
class Tick:
    """A gridline of the amount axis."""

    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    ticks: list[Tick]
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = PLOT_LEFT
    right: int = PLOT_RIGHT
    top: int = PLOT_TOP
    bottom: int = PLOT_BOTTOM

    @property
    def empty(self) -> bool:
        return not any(bar.takings or bar.refunds for bar in self.bars)

    @property
    def middle_x(self) -> float:
        return (PLOT_LEFT + PLOT_RIGHT) / 2

    @property
    def middle_y(self) -> float:
        return (PLOT_TOP + PLOT_BOTTOM) / 2


@dataclass(frozen=True)
class Day:
    """One day of the reconciliation calendar."""

    day: date
    #: ``ok``, ``discrepancies``, ``failed``, ``running`` or ``none`` (no run).
    status: str
    discrepancies: int = 0
    run_id: int | None = None


@dataclass
class Overview:
    days: int
    takings: int = 0
    refunds: int = 0
    #: Payments and refunds that succeeded in the period.
    payments: int = 0
    refund_count: int = 0
    orders: int = 0
    paid_orders: int = 0
    chart: Chart = field(default_factory=lambda: Chart([], []))
    notifications: dict[str, int] = field(default_factory=dict)
    stuck_deliveries: int = 0
    #: What needs a person, whenever it happened: reports that disagreed with our data,
    #: refunds WeChat Pay could not complete.
    flagged_orders: int = 0
    flagged_refunds: int = 0
    abnormal_refunds: int = 0
    calendar: list[list[Day | None]] = field(default_factory=list)

    @property
    def bars(self) -> list[Bar]:
        return self.chart.bars

    @property
    def net(self) -> int:
        return self.takings - self.refunds

    @property
    def success_rate(self) -> float | None:
        """Paid orders among the orders created in the period."""
        return self.paid_orders / self.orders if self.orders else None

    @property
    def attention(self) -> int:
        """How many things on the page ask for a person."""
        return (
            self.notifications.get(NotificationStatus.REJECTED, 0)
            + self.notifications.get(NotificationStatus.FAILED, 0)
            + self.notifications.get(NotificationStatus.UNMATCHED, 0)
            + self.stuck_deliveries
            + self.flagged_orders
            + self.flagged_refunds
            + self.abnormal_refunds
        )


def _day_of(column: str) -> Any:
    """The Beijing day of a datetime column, as the database computes it."""
    if settings.USE_TZ:
        return TruncDate(column, tzinfo=BEIJING_TZ)
    return Cast(column, DateField())


def _per_day(queryset: QuerySet[Any], column: str, amount: str) -> dict[date, int]:
    rows = (
        queryset.annotate(day=_day_of(column))
        .values("day")
        .annotate(total=Sum(amount))
        .values_list("day", "total")
    )
    return {day: int(total or 0) for day, total in rows}


def _chart(days: list[date], takings: dict[date, int], refunds: dict[date, int]) -> Chart:
    top = _nice_top(max([*takings.values(), *refunds.values(), 0]))
    plot = PLOT_BOTTOM - PLOT_TOP
    step = (PLOT_RIGHT - PLOT_LEFT) / len(days)
    width = step * 0.4  # two bars a day, and a gap as wide as one
    # A date every day for a week, every week beyond, every fortnight for a quarter.
    every = 1 if len(days) <= 14 else 7 if len(days) <= 45 else 14

    def height(value: int) -> float:
        return round(plot * value / top, 1)

    bars = [
        Bar(
            day=day,
            takings=takings.get(day, 0),
            refunds=refunds.get(day, 0),
            x=round(PLOT_LEFT + index * step + step * 0.1, 1),
            width=round(width, 1),
            takings_height=height(takings.get(day, 0)),
            refunds_height=height(refunds.get(day, 0)),
            label=f"{day.month}/{day.day}" if (len(days) - 1 - index) % every == 0 else "",
        )
        for index, day in enumerate(days)
    ]
    ticks = [
        Tick(y=round(PLOT_BOTTOM - plot * share, 1), label=_yuan(round(top * share)))
        for share in (0, 0.5, 1)
    ]
    return Chart(bars, ticks)


def _calendar(days: list[date], runs: Iterable[ReconciliationRun]) -> list[list[Day | None]]:
    """Weeks (Monday first) of the period, each day coloured by its reconciliation."""
    by_day: dict[date, Day] = {}
    for run in runs:
        if run.status == RunStatus.FAILED:
            status = "failed"
        elif run.status == RunStatus.RUNNING:
            status = "running"
        elif run.discrepancies:
            status = "discrepancies"
        else:
            status = "ok"
        worst = by_day.get(run.bill_date)
        order = ("ok", "running", "discrepancies", "failed")
        if worst is None or order.index(status) > order.index(worst.status):
            by_day[run.bill_date] = Day(run.bill_date, status, run.discrepancies, run.pk)
    weeks: list[list[Day | None]] = []
    week: list[Day | None] = [None] * days[0].weekday()
    for day in days:
        week.append(by_day.get(day, Day(day, "none")))
        if len(week) == 7:
            weeks.append(week)
            week = []
    if week:
        weeks.append(week + [None] * (7 - len(week)))
    return weeks


def overview(days: int = 30, *, today: date | None = None) -> Overview:
    """The last ``days`` Beijing days, today included."""
    last = today or beijing_now().date()
    period = [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    start, _ = beijing_day_bounds(period[0])
    _, end = beijing_day_bounds(last)
    since, until = to_db(start), to_db(end)
    result = Overview(days=days)

    paid = Order.objects.filter(
        state__in=TRADE_PAID, success_time__gte=since, success_time__lt=until
    )
    refunded = Refund.objects.filter(
        status=RefundStatus.SUCCESS, success_time__gte=since, success_time__lt=until
    )
    takings = _per_day(paid, "success_time", "amount")
    refunds = _per_day(refunded, "success_time", "amount")
    result.takings = sum(takings.values())
    result.refunds = sum(refunds.values())
    result.payments = paid.count()
    result.refund_count = refunded.count()
    result.chart = _chart(period, takings, refunds)

    created = Order.objects.filter(created_at__gte=since, created_at__lt=until)
    result.orders = created.count()
    result.paid_orders = created.filter(state__in=TRADE_PAID).count()

    counted = (
        NotificationLog.objects.filter(received_at__gte=since, received_at__lt=until)
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    result.notifications = {status: 0 for status in NotificationStatus.values}
    result.notifications.update(dict(counted))

    result.stuck_deliveries = EventDelivery.objects.filter(
        status__in=(DeliveryStatus.FAILED, DeliveryStatus.GIVEN_UP)
    ).count()
    result.flagged_orders = Order.objects.filter(flagged=True).count()
    result.flagged_refunds = Refund.objects.filter(flagged=True).count()
    result.abnormal_refunds = Refund.objects.filter(status=RefundStatus.ABNORMAL).count()
    runs = ReconciliationRun.objects.filter(bill_date__gte=period[0], bill_date__lte=last)
    result.calendar = _calendar(period, runs)
    return result
