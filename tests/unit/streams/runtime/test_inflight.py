"""Records in flight (streams/runtime/inflight.py): finished strictly in read order, effects
acknowledged before state is written, state written before a record is marked handled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.runtime import acks
from streams.runtime.inflight import InFlight


class Msg:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class Table:
    """A Persisting table that records its writes in the shared log."""

    def __init__(self, name: str, log: list[Any]) -> None:
        self.name = name
        self.log = log

    async def persist(self, partition: int, items: dict[str, Any]) -> None:
        self.log.append(("persist", self.name, partition, dict(items)))


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    events: list[Any] = []
    monkeypatch.setattr(acks, "mark_handled", lambda m: events.append(("handled", m.name)))
    monkeypatch.setattr(acks, "abandon", lambda m: events.append(("abandoned", m.name)))
    return events


async def until(predicate: Any, limit: float = 5.0) -> None:
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - the completion task has no event to expose
            await asyncio.sleep(0.001)


def future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


class TestInFlight:
    """A record is handled only after its effects and every earlier record's are done."""

    async def test_records_finish_in_read_order(self, log: list[Any]) -> None:
        flight = InFlight("t")
        first, second = future(), future()
        await flight.add(Msg("r1"), 0, [first])
        await flight.add(Msg("r2"), 1, [second])
        second.set_result(None)  # the later record's effect is acknowledged first
        await asyncio.sleep(0.01)
        assert log == []
        first.set_result(None)
        await until(lambda: len(log) == 2)
        assert log == [("handled", "r1"), ("handled", "r2")]

    async def test_state_written_after_effects_before_handled_latest_value_wins(
        self, log: list[Any]
    ) -> None:
        flight = InFlight("t")
        states, other = Table("states", log), Table("other", log)
        effect = future()
        await flight.add(Msg("r1"), 2, [effect], [(states, {"a": 1, "b": 1}), (other, {})])
        await flight.add(Msg("r2"), 2, [], [(states, {"a": 2})])
        await asyncio.sleep(0.01)
        assert log == []  # nothing is written while an effect travels
        effect.set_result(None)
        await until(lambda: len(log) == 3)
        assert log == [
            ("persist", "states", 2, {"a": 2, "b": 1}),  # one write for the group
            ("handled", "r1"),
            ("handled", "r2"),
        ]

    async def test_a_refused_effect_abandons_the_rest_and_stops(self, log: list[Any]) -> None:
        stopped: list[BaseException] = []

        async def on_failure(exc: BaseException) -> None:
            stopped.append(exc)

        flight = InFlight("t", on_failure=on_failure)
        refused, later = future(), future()
        await flight.add(Msg("r1"), 0, [refused])
        await flight.add(Msg("r2"), 0, [later])
        refused.set_exception(RuntimeError("broker refused"))
        await until(lambda: bool(stopped))
        later.set_result(None)
        await asyncio.sleep(0.01)
        assert log == [("abandoned", "r1"), ("abandoned", "r2")]
        assert isinstance(stopped[0], RuntimeError)

    async def test_the_agent_waits_when_the_limit_is_reached(self, log: list[Any]) -> None:
        flight = InFlight("t", limit=1)
        effect = future()
        await flight.add(Msg("r1"), 0, [effect])
        second = asyncio.create_task(flight.add(Msg("r2"), 0, []))
        await asyncio.sleep(0.01)
        assert not second.done()  # backpressure: the agent stops taking records
        effect.set_result(None)
        await asyncio.wait_for(second, 5)
        await until(lambda: len(log) == 2)
        assert log == [("handled", "r1"), ("handled", "r2")]
