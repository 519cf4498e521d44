from __future__ import annotations

from datetime import datetime

import pytest

from contracts.events import SupportEvent
from streams.state import (
    DueIndex,
    SupportState,
    Transition,
    absorbed_tombstone,
    apply,
    expire,
    next_deadline,
)

from .factory import CONFIG, KEY, at, opened, rating, solved


class Partition:
    """A tiny stand-in for the Faust agent: a state table plus a DueIndex, clock passed in."""

    def __init__(self) -> None:
        self.states: dict[str, SupportState] = {}
        self.due = DueIndex()
        self.emitted: list[Transition] = []

    def handle(self, key: str, event: SupportEvent) -> None:
        state, transitions = apply(self.states.get(key), event, key, CONFIG)
        self._store(key, state, transitions)

    def tick(self, now: datetime) -> None:
        for key in self.due.pop_due(now):
            state, transitions = expire(self.states[key], now, CONFIG)
            self._store(key, state, transitions)

    def _store(self, key: str, state: SupportState, transitions: list[Transition]) -> None:
        self.states[key] = state
        self.emitted.extend(transitions)
        self.due.schedule(key, next_deadline(state, CONFIG))


class TestPartitionTimers:
    """DueIndex + expire lift suppression on time, touching only due customers."""

    def test_cooldown_lifts_on_timer(self) -> None:
        part = Partition()
        part.handle("c:a", opened("e1", "1"))
        part.handle("c:a", solved("e2", "1", at(hours=1)))
        part.handle("c:b", rating("r1", "bad", at(hours=1)))
        part.tick(at(days=7))
        assert part.states["c:a"].support_state == "cooldown"
        part.tick(at(days=7, hours=1))
        assert part.states["c:a"].support_state == "clear"
        assert part.states["c:b"].support_state == "recovery"
        part.tick(at(days=31, hours=1))
        assert part.states["c:b"].support_state == "clear"
        lifted = [
            t for t in part.emitted if t.kind == "support_state_changed" and t.new_state == "clear"
        ]
        assert [t.customer_key for t in lifted] == ["c:a", "c:b"]

    def test_every_state_is_eventually_unscheduled(self) -> None:
        part = Partition()
        part.handle("c:a", opened("e1", "1"))
        for day in range(0, 200, 5):
            part.tick(at(days=day))
        assert len(part.due) == 0
        assert part.states["c:a"].support_state == "clear"
        assert part.states["c:a"].tickets["zendesk:1"].closed_reason == "stale"


class TestGuards:
    """Misuse is loud: a state under the wrong key, or a timer on a tombstone."""

    def test_wrong_key(self) -> None:
        state, _ = apply(None, opened("e1", "1"), KEY, CONFIG)
        with pytest.raises(ValueError):
            apply(state, opened("e2", "2"), "c:other", CONFIG)

    def test_tombstone_has_no_timers(self) -> None:
        state, _ = apply(None, opened("e1", "1"), KEY, CONFIG)
        tomb = absorbed_tombstone(state, "c:winner")
        assert next_deadline(tomb, CONFIG) is None
        assert expire(tomb, at(days=100), CONFIG) == (tomb, [])
        assert tomb.explain()["why"] == "merged into c:winner; look there"
