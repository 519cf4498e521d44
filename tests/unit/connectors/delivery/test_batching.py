"""BatchingSink: the send_batch hook keeps per-person order and per-item outcomes."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from connectors.delivery.batching import BatchingSink, BatchResult
from connectors.delivery.budget import RequestBudget
from connectors.delivery.clock import VirtualClock
from connectors.delivery.coalesce import LastWrittenCache
from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.errors import ClientError, ServerError
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.ratelimit import TokenBucket
from contracts.actions import Action
from tests.unit.connectors.delivery.helpers import make_action


class Recorder(BatchingSink):
    """Batches identifies; fails items whose person starts with "bad"."""

    name = "customerio"
    max_batch: ClassVar[int] = 3

    def __init__(self, fail_first_batch: bool = False, **kwargs: Any) -> None:
        clock = VirtualClock()
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("bucket", TokenBucket(1000, 1000, clock=clock))
        super().__init__(
            store=InMemoryDeliveredStore(), dead_letters=InMemoryDeadLetterWriter(),
            rng=random.Random(1), **kwargs,
        )
        self.singles: list[Action] = []
        self.batches: list[list[Action]] = []
        self.fail_first_batch = fail_first_batch

    def batch_key(self, action: Action) -> str | None:
        return "identify" if action.operation == "identify" else None

    async def send(self, action: Action) -> None:
        self.singles.append(action)

    async def send_batch(self, actions: list[Action]) -> BatchResult:
        if self.fail_first_batch:
            self.fail_first_batch = False
            raise ServerError(503)
        self.batches.append(actions)
        return [ClientError(400, b"bad") if a.person.startswith("bad") else None for a in actions]


class TestBatching:
    """Single-request people are batched; others keep the ordered per-person path."""

    async def test_split_and_outcomes(self) -> None:
        sink = Recorder()
        actions = [make_action(i, person=f"p{i}", attributes={"a": i}) for i in range(5)]
        actions.append(make_action(10, person="bad1", attributes={"a": 1}))
        # p0 also has an event: p0 keeps the ordered path (identify before event)
        actions.append(make_action(11, person="p0", operation="event", one_off=True))
        report = await sink.deliver(actions)
        batched = [a.person for b in sink.batches for a in b]
        assert sorted(batched) == ["bad1", "p1", "p2", "p3", "p4"]
        assert [b for b in map(len, sink.batches)] == [3, 2]
        assert [(a.person, a.operation) for a in sink.singles] == [("p0", "identify"),
                                                                   ("p0", "event")]
        assert report.delivered == 6 and report.dead_lettered == 1 and report.requests == 4
        assert isinstance(sink.dead_letters, InMemoryDeadLetterWriter)
        assert sink.dead_letters.letters[0].action.person == "bad1"
        outcomes = {(o.action.person, o.action.operation): o.outcome for o in report.outcomes}
        assert outcomes[("bad1", "identify")] == "dead_lettered"
        assert outcomes[("p0", "event")] == outcomes[("p4", "identify")] == "delivered"
        assert len(report.outcomes) == 7  # batched and per-person paths both reported
        again = await sink.deliver(actions)
        assert again.skipped == 6 and again.requests == 1  # dead letters are not "delivered"

    async def test_batch_in_flight_at_a_cache_clear_is_not_remembered(self) -> None:
        cache = LastWrittenCache()

        class ClearingRecorder(Recorder):
            async def send_batch(self, actions: list[Action]) -> BatchResult:
                cache.clear()  # a rebalance while the batch is out
                return await super().send_batch(actions)

        people = [make_action(i, person=f"p{i}", attributes={"a": 1}) for i in range(2)]
        await ClearingRecorder(last_written=cache).deliver(people)
        sink = Recorder(last_written=cache)
        again = [make_action(10 + i, person=f"p{i}", attributes={"a": 1}) for i in range(2)]
        report = await sink.deliver(again)  # another worker may have written meanwhile
        assert report.unchanged == 0 and [len(b) for b in sink.batches] == [2]

    async def test_coalesces_then_retries_whole_batch(self) -> None:
        sink = Recorder(fail_first_batch=True)
        actions = [make_action(i, person=f"p{i % 2}", attributes={"a": i}, at=i * 0.1)
                   for i in range(4)]
        report = await sink.deliver(actions)
        assert report.retries == 1 and report.delivered == 4 and report.coalesced == 2
        assert [a.attributes for a in sink.batches[0]] == [{"a": 2}, {"a": 3}]

    async def test_budget_prepaid_then_bucket(self) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(1, 1, clock=clock)
        budget = RequestBudget(bucket, prepaid=1)
        await budget.take()
        await budget.take()
        assert budget.spent == 2 and bucket.tokens < 1
