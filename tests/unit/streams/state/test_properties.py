"""Property tests: duplicates, interleavings, determinism and timers (controlled clock)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import SupportEvent
from streams.state import StateConfig, SupportState, Transition, apply, expire, next_deadline

from .factory import CONFIG, KEY, at, rating, solved, ticket

STATUSES = ["new", "open", "pending", "hold", "solved", "closed"]
PRIORITIES = [None, "low", "normal", "high", "urgent"]
REASONS = [None, "billing", "refund", "bug"]

step = st.tuples(
    st.sampled_from(STATUSES),
    st.sampled_from(PRIORITIES),
    st.sampled_from(REASONS),
    st.integers(min_value=0, max_value=600),  # minutes since the ticket's previous update
)


@st.composite
def ticket_histories(draw: st.DrawFn) -> list[list[SupportEvent]]:
    """Per ticket, its own events in platform order (times within a few days: no staleness)."""
    histories: list[list[SupportEvent]] = []
    for number in range(draw(st.integers(min_value=1, max_value=3))):
        minutes = draw(st.integers(min_value=0, max_value=1000))
        events: list[SupportEvent] = []
        for index, (status, priority, reason, gap) in enumerate(
            draw(st.lists(step, min_size=1, max_size=6))
        ):
            minutes += gap
            events.append(
                ticket(
                    f"t{number}-{index}",
                    str(number),
                    status,
                    at(minutes=minutes),
                    priority=priority,
                    reason=reason,
                )
            )
        histories.append(events)
    ratings = draw(st.lists(st.integers(min_value=0, max_value=5000), unique=True, max_size=3))
    if ratings:
        histories.append(
            [rating(f"r{m}", "bad" if m % 2 else "good", at(minutes=m)) for m in sorted(ratings)]
        )
    return histories


@st.composite
def interleaving(draw: st.DrawFn, histories: list[list[SupportEvent]]) -> list[SupportEvent]:
    """Any merge of the histories that keeps each one's own order."""
    positions = [0] * len(histories)
    merged: list[SupportEvent] = []
    while any(p < len(h) for p, h in zip(positions, histories, strict=True)):
        ready = [i for i, h in enumerate(histories) if positions[i] < len(h)]
        chosen = draw(st.sampled_from(ready))
        merged.append(histories[chosen][positions[chosen]])
        positions[chosen] += 1
    return merged


def _run(events: list[SupportEvent]) -> tuple[SupportState | None, list[Transition]]:
    state: SupportState | None = None
    emitted: list[Transition] = []
    for item in events:
        state, transitions = apply(state, item, KEY, CONFIG)
        emitted.extend(transitions)
    return state, emitted


def _outcome(state: SupportState | None) -> dict[str, Any]:
    """Everything but arrival-order bookkeeping (processed ids, transition history)."""
    assert state is not None
    values = msgspec.structs.asdict(state)
    del values["processed_ids"], values["recent_transitions"]
    return values


class TestDuplicates:
    """Re-delivered events never change the state or the transitions."""

    @settings(max_examples=150, deadline=None)
    @given(data=st.data())
    def test_duplicates_change_nothing(self, data: st.DataObject) -> None:
        events = data.draw(interleaving(data.draw(ticket_histories())))
        with_copies = list(events)
        for _ in range(data.draw(st.integers(min_value=1, max_value=5))):
            original = data.draw(st.integers(min_value=0, max_value=len(events) - 1))
            position = with_copies.index(events[original])
            insert_at = data.draw(st.integers(min_value=position + 1, max_value=len(with_copies)))
            with_copies.insert(insert_at, events[original])
        assert _run(with_copies) == _run(events)


class TestInterleavings:
    """Only each ticket's own order matters for the final state."""

    @settings(max_examples=200, deadline=None)
    @given(data=st.data())
    def test_any_interleaving_same_outcome(self, data: st.DataObject) -> None:
        histories = data.draw(ticket_histories())
        first = data.draw(interleaving(histories))
        second = data.draw(interleaving(histories))
        assert _outcome(_run(first)[0]) == _outcome(_run(second)[0])


class TestDeterminism:
    """The same inputs give identical transitions with identical ids."""

    @settings(max_examples=100, deadline=None)
    @given(data=st.data())
    def test_replay_is_identical(self, data: st.DataObject) -> None:
        events = data.draw(interleaving(data.draw(ticket_histories())))
        sweep = data.draw(st.integers(min_value=0, max_value=60))
        runs = []
        for _ in range(2):
            state, emitted = _run(events)
            assert state is not None
            state, expired = expire(state, at(days=sweep), CONFIG)
            runs.append((state, emitted + expired))
        assert runs[0] == runs[1]
        ids = [t.transition_id for t in runs[0][1]]
        assert len(ids) == len(set(ids))

    @settings(max_examples=100, deadline=None)
    @given(data=st.data())
    def test_timer_sweeps_do_not_change_the_outcome(self, data: st.DataObject) -> None:
        events = sorted(
            data.draw(interleaving(data.draw(ticket_histories()))), key=lambda e: e.occurred_at
        )
        plain, _ = _run(events)
        swept: SupportState | None = None
        for item in events:
            if swept is not None and data.draw(st.booleans()):
                swept, _ = expire(swept, item.occurred_at, CONFIG)
            swept, _ = apply(swept, item, KEY, CONFIG)
        assert plain is not None and swept is not None
        end = at(days=90)
        assert _outcome(expire(plain, end, CONFIG)[0]) == _outcome(expire(swept, end, CONFIG)[0])


class TestControlledClock:
    """Windows end exactly at their deadline, for any window length and probe time."""

    @settings(max_examples=200, deadline=None)
    @given(
        cooldown_minutes=st.integers(min_value=1, max_value=20_000),
        resolved_minutes=st.integers(min_value=0, max_value=1_000),
        probe_minutes=st.integers(min_value=0, max_value=40_000),
    )
    def test_cooldown_boundary(
        self, cooldown_minutes: int, resolved_minutes: int, probe_minutes: int
    ) -> None:
        config = StateConfig(cooldown=timedelta(minutes=cooldown_minutes))
        state, _ = apply(None, solved("e1", "1", at(minutes=resolved_minutes)), KEY, config)
        deadline = at(minutes=resolved_minutes + cooldown_minutes)
        probe = at(minutes=probe_minutes)
        later, _ = expire(state, probe, config)
        expected = "cooldown" if probe < deadline else "clear"
        assert later.support_state == expected
        if probe < deadline:
            upcoming = next_deadline(later, config)
            assert upcoming is not None and upcoming <= deadline

    @settings(max_examples=100, deadline=None)
    @given(
        stale_days=st.integers(min_value=1, max_value=60),
        probe_hours=st.integers(min_value=0, max_value=24 * 90),
    )
    def test_stale_boundary(self, stale_days: int, probe_hours: int) -> None:
        config = StateConfig(stale_after=timedelta(days=stale_days))
        state, _ = apply(None, ticket("e1", "1", "open", at()), KEY, config)
        later, _ = expire(state, at(hours=probe_hours), config)
        assert later.has_open_ticket == (at(hours=probe_hours) < at(days=stale_days))
