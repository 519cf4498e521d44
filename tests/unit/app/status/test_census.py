"""StateCensus: counts pushed from state writes, per partition, and recent transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from streams.state import SupportState
from streams.state.census import STATES, StateCensus
from streams.state.model import TransitionNote
from tests.unit.streams.state.factory import at, opened, run, solved


def _open(key: str, tickets: int) -> SupportState:
    events = [opened(f"{key}-{i}", f"{key}{i}", at(minutes=i)) for i in range(tickets)]
    state, _ = run(events)
    return replace(state, customer_key=key)


def _cooldown(key: str) -> SupportState:
    state, _ = run([opened(f"{key}-o", "9"), solved(f"{key}-s", "9", at(hours=1))])
    return replace(state, customer_key=key)


def _everyone(_: int) -> bool:
    return True


class TestRebuild:
    """A partition rebuilt from its states counts customers by state and open tickets."""

    def test_counts(self) -> None:
        census = StateCensus()
        census.rebuild(0, [_open("a", 2), _open("b", 1), _cooldown("c")])
        result = census.result(_everyone)
        assert set(result.customers) == set(STATES)
        assert result.customers["open"] == 2
        assert result.customers["cooldown"] == 1
        assert result.customers["clear"] == 0
        assert result.open_tickets == 3

    def test_only_owned_partitions_count(self) -> None:
        census = StateCensus()
        census.rebuild(0, [_open("a", 1)])
        census.rebuild(1, [_open("b", 1)])
        assert census.result(lambda p: p == 0).customers["open"] == 1

    def test_tombstones_not_counted(self) -> None:
        gone = replace(_open("a", 1), merged_into="c:zzz")
        census = StateCensus()
        census.rebuild(0, [gone])
        assert census.result(_everyone).customers["open"] == 0


class TestChanges:
    """Each write moves one customer between states, without any scan."""

    def test_change_moves_counts(self) -> None:
        census = StateCensus()
        census.rebuild(0, [])
        first = _open("a", 1)
        census.change(0, None, first)
        assert census.result(_everyone).customers["open"] == 1
        census.change(0, first, _cooldown("a"))
        result = census.result(_everyone)
        assert result.customers["open"] == 0
        assert result.customers["cooldown"] == 1
        assert result.open_tickets == 0

    def test_unbuilt_partition_ignored_until_rebuilt(self) -> None:
        census = StateCensus()
        census.change(3, None, _open("a", 1))
        assert not census.has(3)
        assert census.result(_everyone).customers["open"] == 0

    def test_forget_drops_partitions(self) -> None:
        census = StateCensus()
        census.rebuild(0, [_open("a", 1)])
        census.forget()
        assert not census.has(0)

    def test_recent_transitions_kept_newest_first(self) -> None:
        census = StateCensus(recent_limit=2)
        census.rebuild(0, [])
        for key in ("a", "b", "c"):
            census.change(0, None, _open(key, 1))
        recent = census.recent()
        assert len(recent) == 2
        assert recent[0].at >= recent[1].at


class TestRecentTransitions:
    """The recent list is the newest distinct notes written, newest first, at most the limit."""

    @settings(max_examples=100, deadline=None)
    @given(
        limit=st.integers(0, 5),
        writes=st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 30)), max_size=40),
    )
    def test_matches_a_sorted_reference(self, limit: int, writes: list[tuple[str, int]]) -> None:
        census = StateCensus(recent_limit=limit)
        census.rebuild(0, [])
        t0 = datetime(2024, 5, 1, tzinfo=UTC)
        states: dict[str, SupportState] = {}
        seen = set()
        for key, minute in writes:
            note = TransitionNote(at=t0 + timedelta(minutes=minute), kind="ticket_opened",
                                  reason="opened", event=f"{key}{minute}")
            before = states.get(key)
            after = SupportState(customer_key=key, recent_transitions=(note,))
            census.change(0, before, after)
            states[key] = after
            seen.add(((t0 + timedelta(minutes=minute)).isoformat(), key))
        expected = sorted(seen, reverse=True)[:limit]
        assert [(r.at, r.customer_key) for r in census.recent()] == expected
