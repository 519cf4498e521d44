"""StateCensus: counts by support_state, open tickets, incremental decoding, recent notes."""

from __future__ import annotations

from app.status.census import STATES, StateCensus
from streams.state import SupportState
from tests.unit.streams.state.factory import at, opened, run, solved


def _open(key: str, tickets: int) -> bytes:
    events = [opened(f"{key}-{i}", f"{key}{i}", at(minutes=i)) for i in range(tickets)]
    state, _ = run(events)
    return state.model_copy(update={"customer_key": key}).to_bytes()


def _cooldown(key: str) -> bytes:
    state, _ = run([opened(f"{key}-o", "9"), solved(f"{key}-s", "9", at(hours=1))])
    return state.model_copy(update={"customer_key": key}).to_bytes()


def _everyone(_: bytes) -> bool:
    return True


class TestCounts:
    """Customers are counted by state; open tickets summed; every state always present."""

    def test_counts(self) -> None:
        items = [(b"a", _open("a", 2)), (b"b", _open("b", 1)), (b"c", _cooldown("c"))]
        result = StateCensus().update(items, _everyone)
        assert set(result.customers) == set(STATES)
        assert result.customers["open"] == 2
        assert result.customers["cooldown"] == 1
        assert result.customers["clear"] == 0
        assert result.open_tickets == 3

    def test_only_owned_keys_count(self) -> None:
        items = [(b"a", _open("a", 1)), (b"b", _open("b", 1))]
        result = StateCensus().update(items, lambda key: key == b"a")
        assert result.customers["open"] == 1

    def test_merge_tombstones_are_not_customers(self) -> None:
        state = SupportState.from_bytes(_open("a", 1)).model_copy(update={"merged_into": "b"})
        result = StateCensus().update([(b"a", state.to_bytes())], _everyone)
        assert sum(result.customers.values()) == 0 and result.open_tickets == 0


class TestIncremental:
    """Only changed states are decoded; vanished keys are forgotten."""

    def test_unchanged_states_are_not_decoded_again(self) -> None:
        census = StateCensus()
        items = [(b"a", _open("a", 1)), (b"b", _open("b", 2))]
        assert census.update(items, _everyone).decoded == 2
        changed = [(b"a", _cooldown("a")), items[1]]
        second = census.update(changed, _everyone)
        assert second.decoded == 1
        assert second.customers["cooldown"] == 1 and second.open_tickets == 2

    def test_vanished_keys_drop_out(self) -> None:
        census = StateCensus()
        census.update([(b"a", _open("a", 1))], _everyone)
        assert census.update([], _everyone).customers["open"] == 0


class TestRecent:
    """Recent transitions come from the states' notes, newest first, bounded."""

    def test_newest_first_and_bounded(self) -> None:
        census = StateCensus(recent_limit=2)
        census.update([(b"c", _cooldown("c")), (b"a", _open("a", 1))], _everyone)
        recent = census.recent()
        assert len(recent) == 2
        assert recent[0].at >= recent[1].at
        assert all(r.customer_key in {"a", "c"} for r in recent)
