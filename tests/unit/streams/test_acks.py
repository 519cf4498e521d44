"""Only records an agent finished reach Faust's commit bookkeeping."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from intervaltree import IntervalTree

from streams.runtime import acks
from streams.runtime.faust_app import _LowLatencyConsumer
from streams.runtime.fetchorder import FetchOrder


class _Message:
    __slots__ = ("topic", "partition", "offset", "acked", "__weakref__")

    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset, self.acked = "t", 0, offset, False


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch) -> Any:
    committed: list[int] = []

    def faust_ack(self: Any, message: _Message) -> bool:
        message.acked = True
        committed.append(message.offset)
        return True

    monkeypatch.setattr(faust_aiokafka.Consumer, "ack", faust_ack)
    instance = object.__new__(_LowLatencyConsumer)
    instance._unacked_messages = set()
    instance.committed = committed
    return instance


class TestMarkHandled:
    """A record counts as handled once, after its agent marked it."""

    def test_marked_record_is_taken_once(self) -> None:
        message = _Message(1)
        acks.mark_handled(message)
        assert acks.take_handled(message) is True
        assert acks.take_handled(message) is False

    def test_unmarked_record_is_not_handled(self) -> None:
        assert acks.take_handled(_Message(2)) is False


class TestConsumerAck:
    """The consumer commits what agents finished and never what Faust skipped."""

    def test_finished_record_goes_to_faust(self, consumer: Any) -> None:
        message = _Message(7)
        acks.mark_handled(message)
        assert consumer.ack(message) is True
        assert consumer.committed == [7]

    def test_skipped_record_is_released_but_not_committed(self, consumer: Any) -> None:
        message = _Message(8)
        consumer._unacked_messages.add(message)
        assert consumer.ack(message) is False
        assert consumer.committed == []
        # Rebalances and shutdown wait for unacked records: this one no longer holds them.
        assert message.acked and message not in consumer._unacked_messages


def _app() -> Any:
    """Just enough of a Faust app: every topic is a stream topic with acks."""
    return type("App", (), {"topics": type("T", (), {
        "acks_enabled_for": staticmethod(lambda topic: True)})()})()


def _bookkeeping(committed: int | None, acked: list[int]) -> Any:
    instance = object.__new__(_LowLatencyConsumer)
    tp = TP("t", 0)
    instance._acked = defaultdict(list, {tp: list(acked)})
    instance._acked_index = defaultdict(set, {tp: set(acked)})
    instance._committed_offset = defaultdict(lambda: None, {tp: committed})
    instance._gap = defaultdict(IntervalTree)
    instance._fetch_order = FetchOrder()
    instance.app = _app()
    return instance, tp


class TestCommitOffsets:
    """A commit never passes a record that was not acknowledged."""

    def test_exact_continuation_commits(self) -> None:
        consumer, tp = _bookkeeping(10, [10, 11, 12])
        assert consumer._new_offset(tp) == 13

    def test_first_ack_past_the_committed_offset_waits(self) -> None:
        # Faust itself would commit 13 here, skipping record 10.
        consumer, tp = _bookkeeping(10, [11, 12])
        assert consumer._new_offset(tp) is None

    async def test_a_jump_in_fetched_offsets_is_not_committed_over(self) -> None:
        consumer, tp = _bookkeeping(10, [10, 48])
        await consumer._add_gap(tp, 11, 47)
        assert consumer._new_offset(tp) == 11  # up to the hole, not 49
        assert consumer._new_offset(tp) is None

    async def test_the_hole_is_fetched_again_before_the_next_batch(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def faust_getmany(self: Any, timeout: float) -> Any:  # noqa: ASYNC109
            for item in ():
                yield item

        monkeypatch.setattr(faust_aiokafka.Consumer, "getmany", faust_getmany)
        consumer, tp = _bookkeeping(10, [10, 48])
        seeks: list[tuple[TP, int]] = []

        async def seek(partition: TP, offset: int) -> None:
            seeks.append((partition, offset))

        consumer.seek = seek
        await consumer._add_gap(tp, 11, 47)
        assert [item async for item in consumer.getmany(1.0)] == []
        assert seeks == [(tp, 10)]  # one early: Faust's read offset may be the next one
        assert [item async for item in consumer.getmany(1.0)] == [] and seeks == [(tp, 10)]


class TestFetchOrder:
    """A record fetched past the expected offset never reaches an agent: it is refetched."""

    def _fetching(self, monkeypatch: pytest.MonkeyPatch, batches: list[list[int]]) -> Any:
        async def faust_getmany(self: Any, timeout: float) -> Any:  # noqa: ASYNC109
            for offset in batches.pop(0):
                yield TP("t", 0), _Message(offset)

        monkeypatch.setattr(faust_aiokafka.Consumer, "getmany", faust_getmany)
        consumer, tp = _bookkeeping(40, [])
        consumer._fetch_order.reset({tp: 40})
        consumer.seeks = []

        async def seek(partition: TP, offset: int) -> None:
            consumer.seeks.append((partition, offset))

        consumer.seek = seek
        return consumer

    async def test_jump_after_a_seek_is_held_back_and_fetched_again(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        consumer = self._fetching(monkeypatch, [[138, 139], [40, 41]])
        first = [m.offset async for _, m in consumer.getmany(1.0)]
        second = [m.offset async for _, m in consumer.getmany(1.0)]
        assert first == [] and consumer.seeks == [(TP("t", 0), 40)]
        assert second == [40, 41]

    async def test_a_real_hole_is_passed_and_committed_over(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tries = FetchOrder.MAX_TRIES
        consumer = self._fetching(monkeypatch, [[50, 51]] * (tries + 1))
        for _ in range(tries):
            assert [m async for m in consumer.getmany(1.0)] == []
        assert [m.offset async for _, m in consumer.getmany(1.0)] == [50, 51]
        tp = TP("t", 0)
        await consumer._add_gap(tp, 41, 50)  # Faust's own detection of the same jump
        assert consumer._fetch_order.refetch == {}
        consumer._acked[tp], consumer._acked_index[tp] = [50, 51], {50, 51}
        assert consumer._new_offset(tp) == 52


class TestNeverCommittedPartition:
    """A partition the group never committed needs an unbroken run from the log start."""

    async def test_first_commit_starts_at_the_log_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def faust_seek(self: Any) -> None:
            return None

        monkeypatch.setattr(faust_aiokafka.Consumer, "perform_seek", faust_seek)
        fresh, known = TP("t", 0), TP("t", 1)
        consumer, _ = _bookkeeping(None, [])
        consumer._committed_offset[known] = 40
        consumer._acked[fresh] = [5, 6]

        async def earliest(*tps: TP) -> dict[TP, int]:
            return {tp: 0 for tp in tps}

        consumer.assignment = lambda: {fresh, known}
        consumer.earliest_offsets = earliest
        seeks: list[tuple[TP, int]] = []

        async def seek(partition: TP, offset: int) -> None:
            seeks.append((partition, offset))

        consumer.seek = seek
        await consumer.perform_seek()
        assert seeks == [(fresh, 0)]  # sought there, not left to aiokafka's reset
        assert consumer._committed_offset[fresh] == 0
        assert consumer._committed_offset[known] == 40
        # The agents expect each partition's first record at exactly that offset.
        assert consumer._fetch_order.expected == {fresh: 0, known: 40}
        # Records 0..4 were never acknowledged: Faust alone would commit 7 here.
        assert consumer._new_offset(fresh) is None


class TestSeekThread:
    """Seeks run on the consumer thread, never across threads into aiokafka's fetcher."""

    async def test_seek_goes_through_the_consumer_thread(self) -> None:
        consumer, tp = _bookkeeping(None, [])
        calls: list[tuple[Any, tuple[Any, ...]]] = []

        class Thread:
            def seek(self, partition: TP, offset: int) -> None:
                raise AssertionError("called from the wrong thread")

            async def call_thread(self, fun: Any, *args: Any) -> None:
                calls.append((fun, args))

        consumer._thread = Thread()
        await consumer._seek(tp, 5)
        assert [(fun.__name__, args) for fun, args in calls] == [("seek", (tp, 5))]


class TestDeferredAcks:
    """A record Faust acks while its agent is still finishing it commits once finished."""

    def test_ack_of_a_record_in_flight_runs_when_it_is_handled(self) -> None:
        message, committed = _Message(7), []
        acks.begin(message)
        assert acks.defer_if_in_flight(message, lambda: committed.append(message)) is True
        assert committed == []
        acks.mark_handled(message)
        assert committed == [message]
        assert acks.take_handled(message) is True

    def test_abandoned_record_runs_the_deferred_ack_as_a_skip(self) -> None:
        message, ran = _Message(8), []
        acks.begin(message)
        acks.defer_if_in_flight(message, lambda: ran.append(acks.take_handled(message)))
        acks.abandon(message)
        assert ran == [False]  # the deferred ack finds the record not handled: not committed

    def test_record_not_in_flight_is_not_deferred(self) -> None:
        assert acks.defer_if_in_flight(_Message(9), lambda: None) is False
