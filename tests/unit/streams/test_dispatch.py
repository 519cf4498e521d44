"""The deliver dispatcher (streams/runtime/dispatch.py): records flow in without waiting,
actions go out across records in batches, in order per customer, suppression first, and a
record is marked handled only once its outcomes are known and checkpointed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import aiohttp
import orjson
import pytest

from connectors.customerio.sink import CustomerIOSink
from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.errors import SinkBackpressureError
from connectors.delivery.http import HttpClient
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from connectors.delivery.sink import DeliveryReport, Outcome, Sink
from connectors.testing.fakes import FakeCustomerIO, FakeFactory, FakeZendesk
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.sink import ZendeskSink
from contracts.actions import Action
from streams.runtime.dispatch import Dispatcher, PartitionOf
from streams.writeorder import WriteOrder
from tests.unit.connectors.delivery.helpers import make_action

pytest_plugins = ["connectors.testing.pytest_plugin"]


class Writer:
    """A table writer (what WriteOrder needs)."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.values.get(key)

    def set(self, key: str, value: bytes) -> None:
        self.values[key] = value


class GatedSink:
    """Records each deliver() call and holds it until the test opens its gate."""

    name = "customerio"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.auto = False
        self.fail_once: Callable[[list[Action]], SinkBackpressureError | None] | None = None

    async def deliver(self, actions: list[Action]) -> DeliveryReport:
        self.calls.append([a.action_id for a in actions])
        gate = asyncio.Event()
        if self.auto:
            gate.set()
        self.gates.append(gate)
        await gate.wait()
        if self.fail_once is not None:
            error, self.fail_once = self.fail_once(actions), None
            if error is not None:
                raise error
        report = DeliveryReport(delivered=len(actions))
        report.outcomes = [Outcome(a, "delivered", 0.0) for a in actions]
        return report


class Harness:
    """A dispatcher wired to recording callbacks."""

    def __init__(self, sink: Any, **kwargs: Any) -> None:
        self.handled: list[Any] = []
        self.abandoned: list[Any] = []
        self.checkpoints: list[list[Any]] = []  # records handled so far, at each checkpoint
        self.checkpoint_gate = asyncio.Event()
        self.checkpoint_gate.set()
        self.halted = False
        self.outcomes: list[Outcome] = []

        async def checkpoint(by_action: PartitionOf, by_customer: PartitionOf) -> None:
            await self.checkpoint_gate.wait()
            self.checkpoints.append(list(self.handled))

        kwargs.setdefault("checkpoint_interval", 0.0)
        kwargs.setdefault("overlap_after", 0.0)  # a second call may start at once
        kwargs.setdefault("normal_linger", 0.0)
        self.dispatcher = Dispatcher(
            cast(Sink, sink),
            order=WriteOrder("customerio", Writer()),
            record_outcomes=self.outcomes.extend,
            checkpoint=checkpoint,
            handled=self.handled.append,
            abandoned=self.abandoned.append,
            halted=lambda: self.halted,
            **kwargs,
        )

    async def submit(self, message: str, *actions: Action, partition: int = 0) -> None:
        await self.dispatcher.submit(message, partition, list(actions))


async def settle(rounds: int = 20) -> None:
    """Let the dispatcher's tasks run (no wall-clock waits beyond their polling)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def until(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll a condition the dispatcher's tasks make true (bounded, no timing asserted)."""
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - the conditions have no event to wait on
            await asyncio.sleep(0.005)


def identify(n: int, person: str, priority: str = "enrichment", **attributes: Any) -> Action:
    return make_action(n, person=person, attributes=attributes or {"n": n}, priority=priority)


def event(n: int, person: str, priority: str = "enrichment") -> Action:
    return make_action(n, person=person, operation="event", one_off=True,
                       payload={"name": "e"}, priority=priority)


@pytest.fixture
def sink() -> GatedSink:
    return GatedSink()


class TestOrderPerCustomer:
    """A customer's actions go out one call at a time, in order; others do not wait."""

    async def test_next_action_of_a_customer_waits_for_its_call_others_go(
        self, sink: GatedSink
    ) -> None:
        h = Harness(sink)
        first, second, other = identify(1, "ann"), event(2, "ann"), identify(3, "bob")
        await h.submit("r1", first)
        await until(lambda: len(sink.calls) == 1)
        await h.submit("r2", second)
        await h.submit("r3", other)
        await until(lambda: len(sink.calls) == 2)
        await settle()
        assert sink.calls == [[first.action_id], [other.action_id]]  # ann's event waits
        sink.gates[0].set()
        await until(lambda: len(sink.calls) == 3)
        assert sink.calls[2] == [second.action_id]
        sink.auto = True
        for gate in sink.gates:
            gate.set()
        await until(lambda: len(h.handled) == 3)
        assert sorted(h.handled) == ["r1", "r2", "r3"]
        h.dispatcher.stop()

    async def test_records_are_taken_while_deliveries_are_in_flight(
        self, sink: GatedSink
    ) -> None:
        h = Harness(sink, overlap_after=60.0)  # the second call waits for the first
        await h.submit("r0", identify(0, "p0"))
        await until(lambda: len(sink.calls) == 1)
        for n in range(1, 6):  # the agent is never held up by the call in flight
            await h.submit(f"r{n}", identify(n, f"p{n}"))
        assert h.dispatcher.backlog == 6
        sink.gates[0].set()
        await until(lambda: len(sink.calls) == 2)
        assert len(sink.calls[1]) == 5  # everything pending went in the next call
        h.dispatcher.stop()


class TestHandledAfterCheckpoint:
    """A record is handled only once all its actions have outcomes and a checkpoint ran."""

    async def test_not_handled_before_outcomes_nor_before_the_checkpoint(
        self, sink: GatedSink
    ) -> None:
        h = Harness(sink)
        h.checkpoint_gate.clear()
        await h.submit("both", identify(1, "ann"), identify(2, "bob"))
        await until(lambda: len(sink.calls) == 1)
        sink.gates[0].set()
        await until(lambda: len(h.outcomes) == 2)  # both delivered...
        await settle()
        assert h.handled == []  # ...but the checkpoint has not been written yet
        h.checkpoint_gate.set()
        await until(lambda: h.handled == ["both"])
        assert h.checkpoints[-1] == []  # written before the record was marked
        h.dispatcher.stop()

    async def test_record_waits_for_its_last_action(self, sink: GatedSink) -> None:
        h = Harness(sink)
        await h.submit("r1", identify(1, "ann"))
        await until(lambda: len(sink.calls) == 1)
        await h.submit("r2", identify(2, "ann"), identify(3, "bob"))  # ann is busy
        await until(lambda: len(sink.calls) == 2)  # bob's action alone
        sink.gates[1].set()
        sink.gates[0].set()
        await until(lambda: h.handled == ["r1"])
        await settle()
        assert h.handled == ["r1"]  # r2's action for ann has no outcome yet
        await until(lambda: len(sink.calls) == 3)
        sink.gates[2].set()
        await until(lambda: h.handled == ["r1", "r2"])
        h.dispatcher.stop()

    async def test_record_without_actions_is_handled_at_the_checkpoint(
        self, sink: GatedSink
    ) -> None:
        h = Harness(sink)
        await h.submit("empty")
        await until(lambda: h.handled == ["empty"])
        assert sink.calls == []
        h.dispatcher.stop()


class TestFailure:
    """A checkpoint that cannot be written stops delivery with nothing committed."""

    async def test_failed_checkpoint_abandons_records_and_the_agent_raises(
        self, sink: GatedSink
    ) -> None:
        async def broken(by_action: PartitionOf, by_customer: PartitionOf) -> None:
            raise ConnectionError("broker gone")

        h = Harness(sink)
        h.dispatcher._checkpoint_fn = broken
        sink.auto = True
        await h.submit("r1", identify(1, "ann"))
        await until(lambda: h.abandoned == ["r1"])
        assert h.handled == []
        with pytest.raises(ConnectionError):
            await h.submit("r2", identify(2, "bob"))
        h.dispatcher.stop()


class TestBackpressure:
    """The platform's pause puts actions back in order; a full backlog holds the agent."""

    async def test_remaining_actions_are_sent_again_in_order(self, sink: GatedSink) -> None:
        h = Harness(sink)
        first, second = event(1, "ann"), event(2, "ann")
        sink.auto = True
        sink.fail_once = lambda actions: SinkBackpressureError(0.05, remaining=actions[1:])
        await h.submit("r1", first, second)
        await until(lambda: h.handled == ["r1"])
        assert sink.calls == [[first.action_id, second.action_id], [second.action_id]]
        h.dispatcher.stop()

    async def test_submit_waits_when_the_backlog_is_full(self, sink: GatedSink) -> None:
        h = Harness(sink, max_backlog=3)
        for n in range(3):
            await h.submit(f"r{n}", identify(n, f"p{n}"))
        blocked = asyncio.ensure_future(h.submit("r3", identify(3, "p3")))
        await until(lambda: len(sink.calls) >= 1)
        await settle()
        assert not blocked.done()
        sink.auto = True
        for gate in sink.gates:
            gate.set()
        await asyncio.wait_for(blocked, 5)
        await until(lambda: len(h.handled) == 4)
        h.dispatcher.stop()


class TestRebalance:
    """On a rebalance in-flight calls finish and are checkpointed; the rest is abandoned."""

    async def test_in_flight_finishes_pending_is_abandoned(self, sink: GatedSink) -> None:
        h = Harness(sink)
        await h.submit("r1", identify(1, "ann"))
        await until(lambda: len(sink.calls) == 1)
        await h.submit("r2", identify(2, "ann"))  # waits behind r1 (same customer)
        h.halted = True
        await settle()
        sink.gates[0].set()
        await until(lambda: h.abandoned == ["r2"])
        assert h.handled == ["r1"]
        await h.submit("r3", identify(3, "bob"))  # taken during the rebalance: read again
        assert h.abandoned == ["r2", "r3"]
        assert len(sink.calls) == 1 and h.dispatcher.backlog == 0
        h.dispatcher.stop()


    async def test_call_stuck_in_retries_is_cancelled_after_the_grace(
        self, sink: GatedSink
    ) -> None:
        h = Harness(sink, halt_grace=0.05)
        await h.submit("r1", identify(1, "ann"))
        await until(lambda: len(sink.calls) == 1)  # never answered (a platform down)
        h.halted = True
        await until(lambda: h.abandoned == ["r1"])
        assert h.handled == []
        h.dispatcher.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def cio_sink(fake: FakeCustomerIO, session: aiohttp.ClientSession, bucket: TokenBucket
             ) -> CustomerIOSink:
    client = HttpClient(session, base_url=fake.track_url, bucket=bucket,
                        auth=(fake.site_id, fake.api_key))
    return CustomerIOSink(
        client=client, bucket=bucket, store=InMemoryDeliveredStore(),
        dead_letters=InMemoryDeadLetterWriter(),
        policy=RetryPolicy(base=0.01, max_backoff=0.05, deadline=5.0), rng=random.Random(1),
    )


class TestWithCustomerIO:
    """Against the Customer.io fake: v2 batches form and suppression overtakes a backlog."""

    async def test_v2_batch_forms_from_many_records(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        fake.faults.add(kind="slow", delay=0.3, path="/api/v1/customers/p0$")
        h = Harness(cio_sink(fake, session, TokenBucket(1000, 100)), calls_per_lane=1)
        await h.submit("r0", identify(0, "p0"))
        await until(lambda: len(fake.requests) == 1)  # p0's call is in flight (slow)
        for n in range(1, 7):  # one record per person, as routing writes them
            await h.submit(f"r{n}", identify(n, f"p{n}", priority="suppression"))
        await until(lambda: len(h.handled) == 7)
        batches = fake.requests_to("POST", r"/api/v2/batch")
        assert len(batches) == 1
        people = [e["identifiers"]["id"] for e in orjson.loads(batches[0].body)["batch"]]
        assert sorted(people) == [f"p{n}" for n in range(1, 7)]
        assert len(fake.requests_to("PUT", r"/api/v1/customers/.*")) == 1  # p0 alone
        h.dispatcher.stop()

    async def test_suppression_does_not_wait_behind_an_enrichment_backlog(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        h = Harness(cio_sink(fake, session, TokenBucket(40, 1)))
        for n in range(150):  # two events per person: one v1 request each, ~7 s at 40/s
            await h.submit(f"e{n}", event(n, f"busy{n}"), event(1000 + n, f"busy{n}"))
        assert h.dispatcher.backlog == 300  # all taken in, none delivered yet
        await until(lambda: len(fake.requests) >= 5)
        await h.submit("s", identify(999, "urgent", priority="suppression", has_open_ticket=True))
        await until(lambda: bool(fake.requests_to("PUT", r"/api/v1/customers/urgent")))
        put = fake.requests_to("PUT", r"/api/v1/customers/urgent")[0]
        before = fake.requests.index(put)
        assert before < 30  # behind at most the requests already granted, not the backlog
        h.dispatcher.stop()

    async def test_zendesk_users_of_many_records_go_in_one_create_or_update_many(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_zendesk()
        bucket = TokenBucket(1000, 100)
        http = HttpClient(session, base_url=fake.base_url, bucket=bucket,
                          auth=("agent@example.com/token", "test-token"))
        sink = ZendeskSink(
            client=ZendeskClient(http, job_poll_interval=0.01), bucket=bucket,
            store=InMemoryDeliveredStore(), dead_letters=InMemoryDeadLetterWriter(),
            policy=RetryPolicy(base=0.01, max_backoff=0.05, deadline=5.0), rng=random.Random(2),
        )
        h = Harness(sink)
        for n in range(5):  # one record per person, all pending at once
            user = make_action(n, sink="zendesk", operation="update_user",
                               person=f"u{n}@example.com", attributes={"name": f"U{n}"})
            await h.submit(f"r{n}", user)
        await until(lambda: len(h.handled) == 5)
        assert len(fake.requests_to("POST", "/api/v2/users/create_or_update_many")) == 1
        assert len(fake.users) == 5
        h.dispatcher.stop()


class TestAuditTrail:
    """Each call's handed actions are audited per source partition, and a record is marked
    handled only once the audit records covering it are acknowledged."""

    async def test_audit_acknowledged_before_handled(self, sink: GatedSink) -> None:
        audited: list[tuple[int, list[str], list[str]]] = []
        acknowledged = asyncio.Event()

        async def audit(partition: int, handed: list[Action], outcomes: list[Outcome]) -> Any:
            audited.append((partition, [a.action_id for a in handed],
                            [o.action.action_id for o in outcomes]))

            async def ack() -> None:
                await acknowledged.wait()

            return asyncio.ensure_future(ack())

        h = Harness(sink, audit=audit, overlap_after=60.0)
        first = identify(1, "ann")
        await h.submit("r1", first, partition=2)
        await until(lambda: len(sink.calls) == 1)
        a, b = identify(2, "bob"), identify(3, "cy")
        await h.submit("r2", a, partition=0)
        await h.submit("r3", b, partition=3)
        sink.auto = True
        sink.gates[0].set()
        await until(lambda: len(audited) == 3)
        assert audited[0] == (2, [first.action_id], [first.action_id])
        assert sorted(audited[1:]) == [(0, [a.action_id], [a.action_id, b.action_id]),
                                       (3, [b.action_id], [a.action_id, b.action_id])]
        await settle()
        assert h.handled == []  # delivered and checkpointed, the audit not yet acknowledged
        acknowledged.set()
        await until(lambda: len(h.handled) == 3)
        h.dispatcher.stop()
