"""consumer_lag: highwater minus committed offset, else position; unknown ends and
topics other than the input topics (changelogs) skipped."""

from __future__ import annotations

from typing import Any, NamedTuple

from app.status.lag import consumer_lag


class TP(NamedTuple):
    topic: str
    partition: int


class FakeConsumer:
    def __init__(self) -> None:
        self.ends: dict[TP, int | None] = {
            TP("a", 0): 10, TP("a", 1): 5, TP("b", 0): None, TP("app-state-changelog", 0): 60,
        }
        self._committed_offset: dict[TP, int | None] = {TP("a", 0): 7}
        self.positions = {TP("a", 1): 2}

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: Any) -> int | None:
        return self.ends[tp]

    async def position(self, tp: Any) -> int | None:
        return self.positions.get(tp)


class TestConsumerLag:
    """Per topic partition, never negative."""

    async def test_lag(self) -> None:
        assert await consumer_lag(FakeConsumer(), {"a", "b"}) == {("a", 0): 3, ("a", 1): 3}

    async def test_changelogs_are_not_input(self) -> None:
        consumer = FakeConsumer()
        consumer.positions[TP("app-state-changelog", 0)] = 11
        assert ("app-state-changelog", 0) not in await consumer_lag(consumer, {"a", "b"})

    async def test_never_negative(self) -> None:
        consumer = FakeConsumer()
        consumer._committed_offset[TP("a", 0)] = 12
        assert (await consumer_lag(consumer, {"a"}))[("a", 0)] == 0
