"""Routing, quiet hours, team hours and SMS segments: the edges a mutation run found open."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from heard.streams.base.settings import PolicySettings
from heard.streams.content.sms_segments import segments
from heard.streams.contract.records import Customer, QuietHoursWindow
from heard.streams.policy.routing import (
    NoRoute,
    Route,
    business_deadline,
    customer_route,
    quiet_until,
    with_calendar,
    within_team_hours,
)

POLICY = PolicySettings(team_timezone="Europe/London", team_hours_start=time(9), team_hours_end=time(18))


def customer(**fields: object) -> Customer:
    base: dict[str, object] = {
        "name": "Amara Okafor",
        "email": "amara@example.net",
        "phone": "+442079460958",
        "timezone": "Europe/London",
        "consent": {"email": True, "sms": True},
    }
    return Customer.model_validate({**base, **fields})


def test_the_preferred_channel_goes_first_and_the_other_is_the_fallback() -> None:
    route = customer_route(customer(preferred_channel="sms"), ("email", "sms"))
    assert route == Route("sms", "+442079460958", (("email", "amara@example.net"),))
    route = customer_route(customer(), ("email", "sms"))
    assert route == Route("email", "amara@example.net", (("sms", "+442079460958"),))


def test_a_channel_that_is_not_enabled_is_never_used() -> None:
    route = customer_route(customer(preferred_channel="sms"), ("email",))
    assert route == Route("email", "amara@example.net", ())


@pytest.mark.parametrize(
    ("fields", "enabled", "reason"),
    [
        (
            {"phone": None, "consent": {"email": False, "sms": True}},
            ("email", "sms"),
            "no usable channel: no consent for email, no phone number",
        ),
        (
            {"email": None, "consent": {"email": True, "sms": False}},
            ("email", "sms"),
            "no usable channel: no email address, no consent for SMS",
        ),
        ({"email": None}, ("email",), "no usable channel: no email address, sms is not enabled"),
    ],
)
def test_no_route_says_why_for_each_channel(
    fields: dict[str, object], enabled: tuple[str, ...], reason: str
) -> None:
    assert customer_route(customer(**fields), enabled) == NoRoute(reason)


def at_london(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, tzinfo=UTC)  # London is on UTC in November


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (at_london(20, 59), None),  # before the window
        (at_london(21, 0), datetime(2026, 11, 21, 8, 0, tzinfo=UTC)),  # its first minute
        (at_london(23, 30), datetime(2026, 11, 21, 8, 0, tzinfo=UTC)),  # before midnight
        (at_london(2, 0), datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),  # after midnight: same day
        (at_london(8, 0), None),  # the window has ended
    ],
)
def test_quiet_hours_that_wrap_midnight(now: datetime, until: datetime | None) -> None:
    night = customer(quiet_hours={"start": "21:00", "end": "08:00"})
    assert quiet_until(now, night, POLICY) == until


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (at_london(12, 59), None),
        (at_london(13, 0), at_london(14, 0)),
        (at_london(13, 59), at_london(14, 0)),
        (at_london(14, 0), None),
    ],
)
def test_quiet_hours_within_one_day(now: datetime, until: datetime | None) -> None:
    lunch = customer(quiet_hours={"start": "13:00", "end": "14:00"})
    assert quiet_until(now, lunch, POLICY) == until


def test_the_default_quiet_hours_apply_to_customers_without_their_own() -> None:
    policy = POLICY.model_copy(update={"default_quiet_hours": QuietHoursWindow(start=time(21), end=time(8))})
    assert quiet_until(at_london(22), customer(), policy) == datetime(2026, 11, 21, 8, tzinfo=UTC)
    assert quiet_until(at_london(22), customer(), POLICY) is None
    # A customer without a zone is read in the policy's default zone (UTC here).
    zoneless = customer(timezone=None, quiet_hours={"start": "21:00", "end": "08:00"})
    assert quiet_until(at_london(22), zoneless, POLICY) == datetime(2026, 11, 21, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (datetime(2026, 11, 20, 9, 0, tzinfo=UTC), True),  # Friday 09:00: the first minute
        (datetime(2026, 11, 20, 8, 59, tzinfo=UTC), False),
        (datetime(2026, 11, 20, 17, 59, tzinfo=UTC), True),
        (datetime(2026, 11, 20, 18, 0, tzinfo=UTC), False),  # 18:00 is closed
        (datetime(2026, 11, 21, 12, 0, tzinfo=UTC), False),  # Saturday
        (datetime(2026, 11, 22, 12, 0, tzinfo=UTC), False),  # Sunday
        (datetime(2026, 11, 23, 12, 0, tzinfo=UTC), True),  # Monday
    ],
)
def test_team_hours_are_weekdays_from_start_until_before_end(moment: datetime, inside: bool) -> None:
    assert within_team_hours(moment, POLICY) is inside


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (0, "GSM-7", 0)),
        ("a" * 160, (1, "GSM-7", 160)),
        ("a" * 161, (2, "GSM-7", 161)),
        ("a" * 306, (2, "GSM-7", 306)),
        ("a" * 307, (3, "GSM-7", 307)),
        ("{" * 80, (1, "GSM-7", 160)),  # extension characters count double
        ("ж" * 70, (1, "UCS-2", 70)),
        ("ж" * 71, (2, "UCS-2", 71)),
        ("ж" * 135, (3, "UCS-2", 135)),
        ("Zoë" + "a" * 67, (1, "UCS-2", 70)),  # one ë switches the whole text to UCS-2
    ],
)
def test_sms_segments_at_every_boundary(text: str, expected: tuple[int, str, int]) -> None:
    assert segments(text) == expected


# ------------------------------------------------------------------ the team's calendar
LONDON_TEAM = POLICY.model_copy(update={"team_holidays": [date(2026, 12, 25)]})


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        # Friday 16:00 + 4 h: two hours on Friday, two on Monday.
        (datetime(2026, 11, 20, 16, tzinfo=UTC), 240, datetime(2026, 11, 23, 11, tzinfo=UTC)),
        # Sunday 18:13 (the defect: "promised 22:13 on Sunday") -> Monday 13:00.
        (datetime(2026, 11, 22, 18, 13, tzinfo=UTC), 240, datetime(2026, 11, 23, 13, tzinfo=UTC)),
        # Urgent at 03:00 on a Tuesday: 30 minutes after the team opens.
        (datetime(2026, 11, 24, 3, tzinfo=UTC), 30, datetime(2026, 11, 24, 9, 30, tzinfo=UTC)),
        # Inside the day: plain arithmetic.
        (datetime(2026, 11, 24, 10, tzinfo=UTC), 30, datetime(2026, 11, 24, 10, 30, tzinfo=UTC)),
        # Exactly at closing: nothing left today.
        (datetime(2026, 11, 24, 18, tzinfo=UTC), 60, datetime(2026, 11, 25, 10, tzinfo=UTC)),
        # Christmas Eve 17:00 + 4 h: one hour, then the holiday and the weekend.
        (datetime(2026, 12, 24, 17, tzinfo=UTC), 240, datetime(2026, 12, 28, 12, tzinfo=UTC)),
    ],
)
def test_first_reply_targets_count_the_teams_working_time(
    start: datetime, minutes: float, due: datetime
) -> None:
    assert business_deadline(start, minutes, LONDON_TEAM) == due


def test_a_team_that_works_weekends_says_so() -> None:
    every_day = POLICY.model_copy(
        update={"team_working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    )
    sunday = datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert within_team_hours(sunday, every_day) and not within_team_hours(sunday, POLICY)
    assert business_deadline(sunday, 60, every_day) == sunday + timedelta(hours=1)
    assert not within_team_hours(datetime(2026, 12, 25, 12, tzinfo=UTC), LONDON_TEAM)


def test_a_saturday_the_team_works_counts() -> None:
    weekend = PolicySettings(
        team_timezone="UTC",
        team_hours_start=time(9),
        team_hours_end=time(18),
        team_working_days=["mon", "tue", "wed", "thu", "fri", "sat"],
    )
    friday = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    assert business_deadline(friday, 120, weekend) == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_a_night_shift_starting_at_midnight_counts_from_its_first_minute() -> None:
    night = PolicySettings(team_timezone="UTC", team_hours_start=time(0), team_hours_end=time(6))
    monday = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert business_deadline(monday, 120, night) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_a_calendar_without_working_time_for_a_year_falls_back_to_clock_time() -> None:
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
    mondays = [(start + timedelta(weeks=n)).date() for n in range(60)]
    never = PolicySettings(team_timezone="UTC", team_working_days=["mon"], team_holidays=mondays)
    assert business_deadline(start, 90, never) == start + timedelta(minutes=90)


def test_no_calendar_named_is_the_default_team_calendar() -> None:
    assert with_calendar(POLICY, None) is POLICY
    assert with_calendar(POLICY, "nights") is None


# Quiet hours and team hours across both daylight-saving changes, in both hemispheres. The
# night of 21:00–08:00 local is one hour shorter or longer in UTC on those nights.
NIGHT = {"start": "21:00", "end": "08:00"}


@pytest.mark.parametrize(
    ("zone", "now", "until"),
    [
        # London springs forward on 28 March 2027 (01:00 GMT -> 02:00 BST): 08:00 BST is 07:00 UTC.
        ("Europe/London", datetime(2027, 3, 27, 22, 0, tzinfo=UTC), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),
        # ... and falls back on 25 October 2026 (02:00 BST -> 01:00 GMT): 08:00 GMT is 08:00 UTC.
        (
            "Europe/London",
            datetime(2026, 10, 24, 21, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 8, 0, tzinfo=UTC),
        ),
        # In the skipped hour's aftermath, still inside the night: 03:30 BST.
        ("Europe/London", datetime(2027, 3, 28, 2, 30, tzinfo=UTC), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),
        # Sydney springs forward on 4 October 2026 (02:00 AEST -> 03:00 AEDT, UTC+11 after).
        (
            "Australia/Sydney",
            datetime(2026, 10, 3, 12, 0, tzinfo=UTC),  # 22:00 AEST
            datetime(2026, 10, 3, 21, 0, tzinfo=UTC),
        ),  # 08:00 AEDT
        # ... and falls back on 4 April 2027 (03:00 AEDT -> 02:00 AEST, UTC+10 after).
        (
            "Australia/Sydney",
            datetime(2027, 4, 3, 11, 0, tzinfo=UTC),  # 22:00 AEDT
            datetime(2027, 4, 3, 22, 0, tzinfo=UTC),
        ),  # 08:00 AEST
        # Santiago (southern, UTC-3 in summer): falls back on 4 April 2027 (00:00 -> 23:00).
        (
            "America/Santiago",
            datetime(2027, 4, 4, 1, 0, tzinfo=UTC),  # 22:00 -03
            datetime(2027, 4, 4, 12, 0, tzinfo=UTC),
        ),  # 08:00 -04
    ],
)
def test_quiet_hours_end_at_the_local_morning_across_daylight_saving(
    zone: str, now: datetime, until: datetime
) -> None:
    night = customer(timezone=zone, quiet_hours=NIGHT)
    assert quiet_until(now, night, POLICY) == until
    # One minute after it ends, the night is over.
    assert quiet_until(until + timedelta(minutes=1), night, POLICY) is None


@pytest.mark.parametrize(
    ("zone", "start", "due"),
    [
        # London, Friday 17:00 GMT + 2 hours of team time: 1 h on Friday, 1 h on Monday, which
        # is in BST after the change on Sunday: 10:00 BST = 09:00 UTC.
        ("Europe/London", datetime(2027, 3, 26, 17, 0, tzinfo=UTC), datetime(2027, 3, 29, 9, 0, tzinfo=UTC)),
        # Sydney, Friday 17:00 AEST (07:00 UTC) + 2 hours: Monday 10:00 AEDT = Sunday 23:00 UTC.
        (
            "Australia/Sydney",
            datetime(2026, 10, 2, 7, 0, tzinfo=UTC),
            datetime(2026, 10, 4, 23, 0, tzinfo=UTC),
        ),
        # Sydney, the autumn change: Friday 17:00 AEDT (06:00 UTC) + 2 hours: Monday 10:00 AEST.
        ("Australia/Sydney", datetime(2027, 4, 2, 6, 0, tzinfo=UTC), datetime(2027, 4, 5, 0, 0, tzinfo=UTC)),
    ],
)
def test_team_time_counts_local_hours_across_daylight_saving(
    zone: str, start: datetime, due: datetime
) -> None:
    team = POLICY.model_copy(update={"team_timezone": zone})
    assert business_deadline(start, 120, team) == due
    assert within_team_hours(due - timedelta(minutes=1), team)
    assert not within_team_hours(due - timedelta(hours=1, minutes=1), team)  # 08:59 local


@pytest.mark.parametrize(
    ("zone", "moment", "shown"),
    [
        # The same instant-to-wall-clock rule the messages use, on the nights clocks change.
        ("Europe/London", "2026-10-25T00:20:00+00:00", "1:20 AM"),  # BST, before falling back
        ("Europe/London", "2026-10-25T03:20:00+00:00", "3:20 AM"),  # GMT, after it
        ("Australia/Sydney", "2026-10-03T15:20:00+00:00", "1:20 AM"),  # AEST, before springing
        ("Australia/Sydney", "2026-10-03T16:20:00+00:00", "3:20 AM"),  # AEDT: 2:20 never happens
    ],
)
def test_a_promised_time_reads_on_the_local_clock_across_daylight_saving(
    zone: str, moment: str, shown: str
) -> None:
    from zoneinfo import ZoneInfo

    from heard.streams.content.rendering import Renderer
    from tests.peers import REPO

    template = Renderer(REPO / "templates").env.from_string("{{ when | time }}")
    rendered = template.render(when=moment, _locale="en", _timezone=ZoneInfo(zone))
    assert rendered.replace("\u202f", " ") == shown  # CLDR puts a narrow space before AM
