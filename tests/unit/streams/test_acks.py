"""Only records an agent finished reach Faust's commit bookkeeping."""

from __future__ import annotations

from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import acks
from streams.faust_app import _LowLatencyConsumer


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
