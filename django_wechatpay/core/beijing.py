"""Beijing time, the one clock of WeChat Pay: bill days, bill rows, and the times it sends.

A fixed +08:00 offset suffices (China has had no daylight saving time since 1991) and
needs no time zone database on the host. Every other module takes its time zone and its
time parsing from here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

__all__ = [
    "BEIJING_TZ",
    "beijing_day_bounds",
    "beijing_now",
    "beijing_yesterday",
    "format_wechatpay_time",
    "parse_wechatpay_time",
]

BEIJING_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def beijing_now() -> datetime:
    return datetime.now(BEIJING_TZ)


def beijing_yesterday(now: datetime | None = None) -> date:
    """The last full bill day: bills cover one Beijing day each."""
    moment = (now or beijing_now()).astimezone(BEIJING_TZ)
    return (moment - timedelta(days=1)).date()


def beijing_day_bounds(day: date) -> tuple[datetime, datetime]:
    """A bill day runs from 00:00 to 24:00 Beijing time."""
    start = datetime.combine(day, time.min, tzinfo=BEIJING_TZ)
    return start, start + timedelta(days=1)


def parse_wechatpay_time(value: object) -> datetime | None:
    """An RFC 3339 time WeChat Pay sent (``2024-05-20T13:29:35+08:00``), or None.

    A time without an offset is read as Beijing time, which is what WeChat Pay means.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=BEIJING_TZ)


def format_wechatpay_time(moment: datetime) -> str:
    """The RFC 3339 form WeChat Pay wants (``time_expire``), in Beijing time.

    A naive datetime is taken to be Beijing time already.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BEIJING_TZ)
    return moment.astimezone(BEIJING_TZ).isoformat(timespec="seconds")
