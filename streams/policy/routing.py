"""Which channel reaches a customer, and when: consent, contact data, quiet hours.

Pure functions. Warm data never guesses: no consent or no address means the
channel is not used, and the reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from heard.streams.base.settings import PolicySettings
from heard.streams.contract.records import Customer, QuietHoursWindow
from heard.streams.contract.state import ChannelName


@dataclass(frozen=True)
class Route:
    channel: ChannelName
    recipient: str
    fallback: tuple[tuple[ChannelName, str], ...]


@dataclass(frozen=True)
class NoRoute:
    reason: str


def customer_route(customer: Customer, enabled: tuple[str, ...]) -> Route | NoRoute:
    """Preferred channel first, then the other one; only consented channels with an address."""
    order: list[ChannelName] = ["email", "sms"]
    if customer.preferred_channel == "sms":
        order = ["sms", "email"]
    usable: list[tuple[ChannelName, str]] = []
    refused: list[str] = []
    for channel in order:
        if channel not in enabled:
            refused.append(f"{channel} is not enabled")
            continue
        if channel == "email":
            if not customer.email:
                refused.append("no email address")
            elif not customer.consent.email:
                refused.append("no consent for email")
            else:
                usable.append(("email", customer.email))
        else:
            if not customer.phone:
                refused.append("no phone number")
            elif not customer.consent.sms:
                refused.append("no consent for SMS")
            else:
                usable.append(("sms", customer.phone))
    if not usable:
        return NoRoute("no usable channel: " + ", ".join(refused))
    first, *rest = usable
    return Route(first[0], first[1], tuple(rest))


def customer_zone(customer: Customer | None, policy: PolicySettings) -> ZoneInfo:
    name = customer.timezone if customer and customer.timezone else policy.default_timezone
    return ZoneInfo(name)


def _in_window(local: time, window: QuietHoursWindow) -> bool:
    if window.start <= window.end:
        return window.start <= local < window.end
    return local >= window.start or local < window.end


def quiet_until(now: datetime, customer: Customer | None, policy: PolicySettings) -> datetime | None:
    """If `now` falls in the customer's quiet hours, the UTC instant they end; else None."""
    window: QuietHoursWindow | None = None
    if customer is not None and customer.quiet_hours is not None:
        window = customer.quiet_hours
    elif policy.default_quiet_hours is not None:
        dq = policy.default_quiet_hours
        window = QuietHoursWindow(start=dq.start, end=dq.end)
    if window is None or window.start == window.end:
        return None
    zone = customer_zone(customer, policy)
    local = now.astimezone(zone)
    if not _in_window(local.time().replace(tzinfo=None), window):
        return None
    end_day = local.date()
    if window.start > window.end and local.time().replace(tzinfo=None) >= window.start:
        end_day = end_day + timedelta(days=1)
    # Built from the local wall clock so DST shifts land on the real local time.
    opening = datetime.combine(end_day, window.end, tzinfo=zone)
    return opening.astimezone(now.tzinfo)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _working_day(day: date, policy: PolicySettings) -> bool:
    return WEEKDAYS[day.weekday()] in policy.team_working_days and day not in policy.team_holidays


def with_calendar(policy: PolicySettings, name: str | None) -> PolicySettings | None:
    """The policy with the named team calendar's hours in place of the default team's;
    None when there is no calendar of that name."""
    if name is None:
        return policy
    calendar = policy.team_calendars.get(name)
    if calendar is None:
        return None
    return policy.model_copy(
        update={
            "team_working_days": calendar.working_days,
            "team_holidays": calendar.holidays,
            "team_hours_start": calendar.hours_start,
            "team_hours_end": calendar.hours_end,
            "team_timezone": calendar.timezone,
        }
    )


def within_team_hours(moment: datetime, policy: PolicySettings) -> bool:
    local = moment.astimezone(ZoneInfo(policy.team_timezone))
    if not _working_day(local.date(), policy):
        return False
    return policy.team_hours_start <= local.time().replace(tzinfo=None) < policy.team_hours_end


def business_deadline(start: datetime, minutes: float, policy: PolicySettings) -> datetime:
    """`minutes` of the team's working time after `start`: only working days, not holidays,
    between team_hours_start and team_hours_end, in the team's zone. A ticket opened on
    Sunday evening with a 4-hour target is due Monday 13:00, not Sunday 23:12."""
    zone = ZoneInfo(policy.team_timezone)
    cursor = start.astimezone(zone)
    remaining = timedelta(minutes=minutes)
    for _ in range(400):  # bounded: more than a year of days without working time is config
        day = cursor.date()
        if _working_day(day, policy):
            opens = datetime.combine(day, policy.team_hours_start, tzinfo=zone)
            closes = datetime.combine(day, policy.team_hours_end, tzinfo=zone)
            begin = max(cursor, opens)
            if begin < closes:
                if remaining <= closes - begin:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= closes - begin
        cursor = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start + timedelta(minutes=minutes)
