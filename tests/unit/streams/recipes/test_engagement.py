"""R3's days_since_last_open: 0 on the day of an open, moved on by the machine's timer."""

from __future__ import annotations

from datetime import timedelta

from streams.state.config import StateConfig
from streams.state.machine import expire
from tests.unit.streams.recipes.helpers import NOW, Desk, by_recipe, event, ticket

KNOWN = {"zendesk_user_id": "5"}


def opened(event_id: str, minutes: float) -> object:
    return event("email_engagement", "customerio", event_id, minutes=minutes,
                 attributes={"metric": "opened"})


class TestDaysSinceLastOpen:
    """The field counts whole days since the newest open and stops at the configured cap."""

    def test_timer_counts_the_days_after_an_open(self) -> None:
        desk = Desk()
        desk.send(ticket("1", "solved", minutes=5 * 1440, identities=KNOWN))
        actions, _ = desk.send(opened("o1", 3 * 1440 + 60))  # type: ignore[arg-type]
        [on_open] = by_recipe(actions, "R3")
        assert on_open.attributes["days_since_last_open"] == 0
        state, transitions = expire(desk.state, NOW, desk.config)
        days = [desk.router.route(t, state, None)[0][0].attributes["days_since_last_open"]
                for t in transitions if t.kind == "engagement_aged"]
        assert days == [1, 2, 3]

    def test_late_open_counts_from_what_the_state_has_seen(self) -> None:
        desk = Desk()
        desk.send(ticket("1", "solved", minutes=10, identities=KNOWN))
        actions, _ = desk.send(opened("o1", 2 * 1440 + 60))  # type: ignore[arg-type]
        assert by_recipe(actions, "R3")[0].attributes["days_since_last_open"] == 2

    def test_refresh_stops_at_the_cap(self) -> None:
        desk = Desk(state=StateConfig(open_age_max=timedelta(days=2)))
        desk.send(ticket("1", "solved", minutes=10 * 1440, identities=KNOWN))
        desk.send(opened("o1", 9 * 1440))  # type: ignore[arg-type]
        state, transitions = expire(desk.state, NOW, desk.config)
        aged = [t.details for t in transitions if t.kind == "engagement_aged"]
        assert aged == [{"days_since_last_open": 1}, {"days_since_last_open": 2}]
        later = expire(state, NOW + timedelta(days=5), desk.config)[1]
        assert [t for t in later if t.kind == "engagement_aged"] == []
