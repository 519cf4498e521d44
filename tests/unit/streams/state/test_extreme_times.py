"""Property tests: the state machine over times anywhere in datetime's range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.timebounds import EARLIEST, LATEST
from streams.state import apply, expire, next_deadline
from streams.state.machine import InvalidEvent

from .factory import CONFIG, KEY, T0, rating, ticket

#: Offsets up to ±14:00, the widest any platform sends (and the one that overflows 9999-12-31).
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14)), None]
)
any_time = st.datetimes(timezones=zones) | st.sampled_from(
    [
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime.max.replace(tzinfo=UTC),
        datetime.min.replace(tzinfo=UTC),
    ]
)
STATUSES = ["new", "open", "pending", "solved", "closed"]


class TestExtremeTimes:
    """Any event time gives a next state or InvalidEvent, never another exception."""

    @settings(max_examples=300, deadline=None)
    @given(when=any_time, status=st.sampled_from(STATUSES), later=any_time)
    def test_ticket_event_at_any_time(self, when: datetime, status: str, later: datetime) -> None:
        opened = ticket("e0", "1", "open", T0)
        state, _ = apply(None, opened, KEY, CONFIG)
        event = ticket("e1", "1", status, when)
        try:
            after, _ = apply(state, event, KEY, CONFIG)
        except InvalidEvent as exc:
            assert "outside" in str(exc)
            moment = when if when.tzinfo else when.replace(tzinfo=UTC)
            try:
                inside = EARLIEST <= moment.astimezone(UTC) < LATEST
            except OverflowError:
                inside = False
            assert not inside  # only out-of-range times are refused
            return
        next_deadline(after, CONFIG)
        now = later if later.tzinfo else later.replace(tzinfo=UTC)
        try:
            now.astimezone(UTC)
        except OverflowError:
            return
        expire(after, now, CONFIG)

    @settings(max_examples=200, deadline=None)
    @given(when=any_time)
    def test_rating_at_any_time(self, when: datetime) -> None:
        try:
            after, _ = apply(None, rating("r1", "bad", when), KEY, CONFIG)
        except InvalidEvent:
            return
        assert after.customer_key == KEY
