from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from connectors.delivery.clock import VirtualClock
from connectors.delivery.coalesce import LastWrittenCache
from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.errors import (
    ClientError,
    DeliveryError,
    RateLimited,
    ServerError,
    SinkBackpressureError,
    TransportError,
)
from connectors.delivery.idempotency import FileDeliveredStore, InMemoryDeliveredStore
from connectors.delivery.outbox import Outbox
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from connectors.delivery.sink import DeliveryObserver, Sink
from contracts.actions import Action
from tests.unit.connectors.delivery.helpers import T0, make_action


class FakeSink(Sink):
    """Records sends; raises scripted errors keyed by action id or operation."""

    name = "customerio"

    def __init__(self, script: dict[str, list[BaseException]] | None = None, **kwargs: Any):
        self.clock_: VirtualClock = kwargs.setdefault("clock", VirtualClock())
        kwargs.setdefault("bucket", TokenBucket(1000, 1000, clock=self.clock_))
        kwargs.setdefault("store", InMemoryDeliveredStore())
        kwargs.setdefault("dead_letters", InMemoryDeadLetterWriter())
        kwargs.setdefault("rng", random.Random(3))
        super().__init__(**kwargs)
        self.script = script or {}
        self.attempted: list[Action] = []
        self.sent: list[Action] = []
        self.active: set[str] = set()
        self.max_active = 0
        self.send_time = 0.01

    async def send(self, action: Action) -> None:
        assert action.person not in self.active, "two requests in flight for one person"
        self.attempted.append(action)
        errors = self.script.get(action.action_id) or self.script.get(action.operation)
        if errors:
            raise errors.pop(0)
        self.active.add(action.person)
        self.max_active = max(self.max_active, len(self.active))
        try:
            await self.clock_.sleep(self.send_time * (1 + len(self.sent) % 3))
        finally:
            self.active.discard(action.person)
        self.sent.append(action)

    @property
    def letters(self) -> InMemoryDeadLetterWriter:
        assert isinstance(self.dead_letters, InMemoryDeadLetterWriter)
        return self.dead_letters


def event(n: int, person: str = "p1", **kw: Any) -> Action:
    return make_action(n, operation="event", one_off=True, person=person, **kw)


class TestHappyPath:
    """Every action is sent once and marked delivered."""

    async def test_delivers_and_marks(self) -> None:
        sink = FakeSink()
        actions = [event(i, person=f"p{i}") for i in range(5)]
        report = await sink.deliver(actions)
        assert report.delivered == 5 and report.dead_lettered == 0 and report.requests == 5
        assert {a.action_id for a in sink.sent} == {a.action_id for a in actions}
        assert all([await sink.store.contains(a.action_id) for a in actions])

    async def test_already_delivered_skipped(self) -> None:
        sink = FakeSink()
        done, fresh = event(1), event(2)
        await sink.store.add(done.action_id)
        report = await sink.deliver([done, fresh, fresh])
        assert report.skipped == 2 and report.delivered == 1
        assert sink.sent == [fresh]

    async def test_replay_after_restart_is_skipped(self, tmp_path: Path) -> None:
        actions = [event(i, person=f"p{i % 3}") for i in range(9)]
        first = FakeSink(store=FileDeliveredStore(tmp_path))
        assert (await first.deliver(actions)).delivered == 9
        second = FakeSink(store=FileDeliveredStore(tmp_path))  # a new process
        report = await second.deliver(actions)
        assert report.skipped == 9 and second.attempted == []

    async def test_coalesced_ids_all_marked(self) -> None:
        sink = FakeSink()
        actions = [make_action(i, attributes={"n": i}, at=i * 0.1) for i in range(3)]
        report = await sink.deliver(actions)
        assert len(sink.sent) == 1 and sink.sent[0].attributes == {"n": 2}
        assert report.delivered == 3 and report.coalesced == 2
        assert all([await sink.store.contains(a.action_id) for a in actions])

    async def test_observer_gets_end_to_end_latency(self) -> None:
        seen: list[tuple[str, float | None]] = []

        class Obs(DeliveryObserver):
            def delivered(
                self, sink: str, operation: str, priority: str, latency: float | None
            ) -> None:
                seen.append((operation, latency))

        clock = VirtualClock(wall_offset=T0.timestamp())
        sink = FakeSink(clock=clock, observer=Obs())
        await sink.deliver([event(1, received_offset=-0.25)])
        assert seen[0][0] == "event"
        assert seen[0][1] == pytest.approx(0.25 + 0.01)


class TestRetriesAndDeadLetters:
    """Retriable errors are retried; the rest are dead-lettered with context."""

    async def test_retries_then_delivers(self) -> None:
        action = event(1)
        sink = FakeSink({action.action_id: [ServerError(503), TransportError("reset")]})
        report = await sink.deliver([action])
        assert report.delivered == 1 and report.retries == 2 and report.requests == 3
        assert sink.letters.letters == []

    async def test_422_goes_to_dlq_with_body_and_others_continue(self) -> None:
        bad, good = event(1), event(2)
        body = b'{"errors":[{"message":"attribute too long"}]}'
        sink = FakeSink({bad.action_id: [ClientError(422, body)]})
        report = await sink.deliver([bad, good])
        assert report.dead_lettered == 1 and report.delivered == 1 and report.retries == 0
        [letter] = sink.letters.letters
        assert letter.reason == "client_error" and letter.status == 422
        assert letter.response_body == body.decode()
        assert letter.action == bad and letter.attempts == 1
        assert letter.first_attempt_at is not None
        assert not await sink.store.contains(bad.action_id)  # redrive can still send it
        assert sink.sent == [good]

    async def test_deadline_goes_to_dlq(self) -> None:
        action = event(1)
        errors: list[BaseException] = [ServerError(500) for _ in range(100)]
        policy = RetryPolicy(base=1, max_backoff=4, deadline=20, jitter="none")
        sink = FakeSink({action.action_id: errors}, policy=policy)
        report = await sink.deliver([action])
        [letter] = sink.letters.letters
        assert letter.reason == "deadline_exceeded" and letter.error_class == "ServerError"
        assert letter.attempts == report.requests > 1
        assert letter.last_attempt_at is not None and letter.first_attempt_at is not None
        assert (letter.last_attempt_at - letter.first_attempt_at).total_seconds() <= 20

    async def test_bug_in_send_is_dead_lettered(self) -> None:
        action = event(1)
        sink = FakeSink({action.action_id: [KeyError("oops")]})
        report = await sink.deliver([action, event(2)])
        assert report.dead_lettered == 1 and report.delivered == 1
        assert sink.letters.letters[0].reason == "unexpected_error"

    async def test_coalesced_failure_dead_letters_every_id(self) -> None:
        actions = [make_action(i, attributes={"n": i}) for i in range(3)]
        sink = FakeSink({"identify": [ClientError(400)]})
        report = await sink.deliver(actions)
        assert report.dead_lettered == 3
        assert sink.letters.letters[0].covered_action_ids == [a.action_id for a in actions]

    async def test_misrouted_action(self) -> None:
        sink = FakeSink()
        report = await sink.deliver([event(1, sink="zendesk")])
        assert report.dead_lettered == 1 and sink.letters.letters[0].reason == "misrouted"


class TestOutcomes:
    """The report lists each request's action with its outcome (what "last sent" shows)."""

    async def test_delivered_and_dead_lettered_in_order(self) -> None:
        bad, good = event(1), event(2, person="p2")
        clock = VirtualClock(wall_offset=T0.timestamp())
        sink = FakeSink({bad.action_id: [ClientError(422)]}, clock=clock)
        report = await sink.deliver([bad, good])
        got = {o.action.action_id: o.outcome for o in report.outcomes}
        assert got == {bad.action_id: "dead_lettered", good.action_id: "delivered"}
        assert all(o.at >= T0.timestamp() for o in report.outcomes)

    async def test_coalesced_request_is_one_outcome(self) -> None:
        sink = FakeSink()
        actions = [make_action(i, attributes={"n": i}, at=i * 0.1) for i in range(3)]
        report = await sink.deliver(actions)
        [outcome] = report.outcomes
        assert outcome.outcome == "delivered" and outcome.action.attributes == {"n": 2}

    async def test_unchanged_update_counts_as_delivered(self) -> None:
        sink = FakeSink(last_written=LastWrittenCache())
        await sink.deliver([make_action(1, attributes={"a": 1})])
        report = await sink.deliver([make_action(2, attributes={"a": 1})])
        assert report.unchanged == 1 and len(sink.sent) == 1
        assert [(o.action.action_id, o.outcome) for o in report.outcomes] == [
            (make_action(2).action_id, "delivered")
        ]

    async def test_write_in_flight_at_a_clear_is_not_remembered(self) -> None:
        cache = LastWrittenCache()

        class ClearingSink(FakeSink):
            async def send(self, action: Action) -> None:
                cache.clear()  # a rebalance while the request is out
                await super().send(action)

        await ClearingSink(last_written=cache).deliver([make_action(1, attributes={"a": 1})])
        # Another worker may have written `a` meanwhile: the same value is sent again.
        sink = FakeSink(last_written=cache)
        report = await sink.deliver([make_action(2, attributes={"a": 1})])
        assert report.unchanged == 0 and len(sink.sent) == 1

    async def test_skipped_ids_have_no_outcome(self) -> None:
        sink = FakeSink()
        await sink.deliver([event(1)])
        assert (await sink.deliver([event(1)])).outcomes == []

    async def test_backpressure_report_keeps_outcomes(self) -> None:
        done, held = event(1, person="p2"), event(2)
        sink = FakeSink({held.action_id: [RateLimited(600.0)]}, concurrency=1)
        with pytest.raises(SinkBackpressureError) as info:
            await sink.deliver([done, held])
        report = info.value.report
        assert report is not None
        assert [o.action.action_id for o in report.outcomes] == [done.action_id]


class TestOrderingAndConcurrency:
    """Per-person order is kept; people run concurrently up to the limit."""

    async def test_per_person_order_with_retries(self) -> None:
        actions = [event(i, person=f"p{i % 4}") for i in range(24)]
        script: dict[str, list[BaseException]] = {
            actions[i].action_id: [ServerError(500)] for i in range(0, 24, 5)
        }
        sink = FakeSink(script, concurrency=3)
        report = await sink.deliver(actions)
        assert report.delivered == 24
        for person in ("p0", "p1", "p2", "p3"):
            expected = [a.action_id for a in actions if a.person == person]
            assert [a.action_id for a in sink.sent if a.person == person] == expected
        assert 1 < sink.max_active <= 3

    async def test_identify_then_event_order(self) -> None:
        sink = FakeSink()
        ident = make_action(1, attributes={"plan": "pro"})
        ev = event(2)
        ident2 = make_action(3, attributes={"plan": "max"})
        await sink.deliver([ident, ev, ident2])
        assert [a.operation for a in sink.sent] == ["identify", "event", "identify"]

    async def test_suppression_served_first(self) -> None:
        clock = VirtualClock()
        sink = FakeSink(clock=clock, bucket=TokenBucket(1, 1, clock=clock), concurrency=10)
        actions = [event(i, person=f"a{i}", priority="analytics") for i in range(5)]
        actions.append(make_action(99, operation="suppress", person="s", priority="suppression"))
        await sink.deliver(actions)
        assert sink.sent[0].operation == "suppress"


class TestModes:
    """Dry-run, last-written skipping and backpressure."""

    async def test_dry_run_writes_outbox(self, tmp_path: Path) -> None:
        sink = FakeSink(outbox=Outbox(tmp_path))
        actions = [event(1), make_action(2, attributes={"a": 1})]
        report = await sink.deliver(actions)
        assert report.dry_run and report.delivered == 2
        assert sink.attempted == []
        lines = (tmp_path / "outbox" / "customerio.jsonl").read_bytes().splitlines()
        assert [Action.from_json(line) for line in lines] == actions
        assert (await sink.deliver(actions)).skipped == 2

    async def test_dry_run_outbox_write_is_observed(self, tmp_path: Path) -> None:
        """A dry-run sink's outbox write is its request, and each action is delivered."""
        requests: list[tuple[str, str]] = []
        delivered: list[str] = []

        class Obs(DeliveryObserver):
            def request(self, sink: str, operation: str, outcome: str, seconds: float) -> None:
                requests.append((operation, outcome))

            def delivered(
                self, sink: str, operation: str, priority: str, latency: float | None
            ) -> None:
                delivered.append(operation)

        sink = FakeSink(outbox=Outbox(tmp_path), observer=Obs())
        await sink.deliver([event(1), make_action(2, attributes={"a": 1})])
        assert requests == [("outbox_write", "ok")]
        assert len(delivered) == 2
        await sink.deliver([event(1)])  # all already delivered: nothing written
        assert len(requests) == 1

    async def test_unchanged_attributes_not_sent(self) -> None:
        sink = FakeSink(last_written=LastWrittenCache())
        await sink.deliver([make_action(1, attributes={"a": 1, "b": 2})])
        report = await sink.deliver([make_action(2, attributes={"a": 1, "b": 2})])
        assert report.unchanged == 1 and len(sink.sent) == 1
        assert await sink.store.contains(make_action(2).action_id)
        await sink.deliver([make_action(3, attributes={"a": 1, "b": 5})])
        assert sink.sent[-1].attributes == {"b": 5}

    async def test_long_rate_limit_raises_backpressure(self) -> None:
        first, second, third = event(1), event(2), event(3, person="p2")
        sink = FakeSink({first.action_id: [RateLimited(600.0)]}, concurrency=1)
        with pytest.raises(SinkBackpressureError) as info:
            await sink.deliver([first, second, third])
        err = info.value
        assert err.retry_after == 600.0
        assert [a.action_id for a in err.remaining] == [a.action_id for a in (first, second, third)]
        assert err.report is not None and err.report.dead_lettered == 0
        assert sink.letters.letters == []
        report = await sink.deliver(err.remaining)  # after the pause
        assert report.delivered == 3

    async def test_paused_bucket_raises_backpressure(self) -> None:
        clock = VirtualClock()
        bucket = TokenBucket(10, 10, clock=clock)
        bucket.adapt({"Retry-After": "120"}, 429)
        sink = FakeSink(clock=clock, bucket=bucket)
        with pytest.raises(SinkBackpressureError) as info:
            await sink.deliver([event(1)])
        assert info.value.retry_after == pytest.approx(120.0)
        assert sink.attempted == []

    async def test_short_rate_limit_is_waited_out(self) -> None:
        action = event(1)
        sink = FakeSink({action.action_id: [RateLimited(2.0)]})
        report = await sink.deliver([action])
        assert report.delivered == 1 and report.retries == 1
        assert sink.clock_.monotonic() >= 2.0

    async def test_store_failure_propagates(self) -> None:
        class BrokenStore(InMemoryDeliveredStore):
            async def add_many(self, action_ids: list[str]) -> None:
                raise OSError("disk full")

        sink = FakeSink(store=BrokenStore())
        with pytest.raises(OSError, match="disk full"):
            await sink.deliver([event(1), event(2, person="p2")])

    def test_error_tree_is_shared(self) -> None:
        assert issubclass(SinkBackpressureError, DeliveryError)
