"""The business-day clock: a business day is a calendar day in Asia/Shanghai (SPEC §2)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sharebuy.kernel.errors import InvalidInput

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def business_day(moment: datetime) -> date:
    """The business day a moment falls in; naive moments are read as Asia/Shanghai time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BUSINESS_TZ)
    return moment.astimezone(BUSINESS_TZ).date()


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC, as it is stored; naive moments are read as Asia/Shanghai time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BUSINESS_TZ)
    return moment.astimezone(UTC)


def day_end(day: date) -> datetime:
    """The first instant after `day` ends, in UTC."""
    start_next = datetime.combine(day + timedelta(days=1), datetime.min.time(), BUSINESS_TZ)
    return start_next.astimezone(UTC)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            "invalid_date",
            f"日期格式应为 YYYY-MM-DD：{text!r}",
            f"date must be YYYY-MM-DD: {text!r}",
        ) from None


def parse_moment(text: str) -> datetime:
    """ISO-8601 moment; without an offset it is Asia/Shanghai local time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            "invalid_datetime",
            f"时间格式应为 ISO-8601：{text!r}",
            f"time must be ISO-8601: {text!r}",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BUSINESS_TZ)
    return moment.astimezone(UTC)
