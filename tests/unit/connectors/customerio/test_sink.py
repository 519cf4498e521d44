"""CustomerIOSink against FakeCustomerIO: v1, v2 batches, App API triggers, dlq, dry-run."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors.customerio.ids import event_ulid, is_ulid
from connectors.customerio.sink import CustomerIOSink, identifier_key_for
from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.http import HttpClient
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.outbox import Outbox
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from connectors.testing.fakes import FakeCustomerIO, FakeFactory
from contracts.actions import Action

pytest_plugins = ["connectors.testing.pytest_plugin"]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def act(n: int | str, operation: str, person: str = "p1", **payload: Any) -> Action:
    return Action.for_transition(
        f"t{n}",
        sink="customerio",
        operation=operation,
        customer_key=f"ck-{person}",
        person=person,
        payload=payload,
        one_off=operation != "identify",
    )


def make_sink(
    fake: FakeCustomerIO, session: aiohttp.ClientSession, **kwargs: Any
) -> CustomerIOSink:
    bucket = TokenBucket(1000, 100)
    client = HttpClient(
        session, base_url=fake.track_url, bucket=bucket, auth=(fake.site_id, fake.api_key)
    )
    app = HttpClient(
        session,
        base_url=fake.app_url,
        headers={"Authorization": f"Bearer {fake.app_api_key}"},
    )
    kwargs.setdefault("store", InMemoryDeliveredStore())
    return CustomerIOSink(
        client=client,
        app_client=app,
        app_bucket=TokenBucket(10, 1),
        bucket=bucket,
        dead_letters=InMemoryDeadLetterWriter(),
        policy=RetryPolicy(base=0.01, max_backoff=0.05, deadline=5.0),
        rng=random.Random(1),
        **kwargs,
    )


class TestEventIds:
    """Event ids are ULIDs derived from the action id alone."""

    def test_deterministic_ulid(self) -> None:
        first = event_ulid("customerio:event:abc", 1_700_000_000)
        assert first == event_ulid("customerio:event:abc", 1_700_000_000)
        assert first != event_ulid("customerio:event:abd", 1_700_000_000)
        assert is_ulid(first) and is_ulid(event_ulid("x"))

    def test_identifier_setting(self) -> None:
        assert identifier_key_for("email") == "email"
        assert identifier_key_for("customer_key") == "id"


class TestV1:
    """Single actions use the Track v1 endpoints."""

    async def test_identify_event_suppress(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        sink = make_sink(fake, session)
        event = act(2, "event", name="support_ticket_resolved", data={"ticket_id": "7"},
                    timestamp=1_700_000_000)
        report = await sink.deliver([
            act(1, "identify", attributes={"has_open_ticket": True}),
            event,
            act(3, "suppress", person="p2"),
        ])
        assert report.delivered == 3 and report.dead_lettered == 0
        person = fake.people["p1"]
        assert person.attributes == {"has_open_ticket": True}
        assert person.events[0]["id"] == event_ulid(event.action_id, 1_700_000_000)
        assert fake.people["p2"].suppressed

    async def test_redelivered_event_is_stored_once(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        event = act(5, "event", name="x")
        await make_sink(fake, session).deliver([event])
        await make_sink(fake, session).deliver([event])  # fresh store: a crash before marking
        assert len(fake.requests_to("POST", r"/api/v1/customers/p1/events")) == 2
        assert len(fake.people["p1"].events) == 1

    async def test_trigger_campaign_uses_app_api(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        sink = make_sink(fake, session)
        report = await sink.deliver([act(6, "trigger_campaign", campaign_id=12, data={"a": 1})])
        assert report.delivered == 1
        assert fake.triggers == [(12, {"data": {"a": 1}})]


class TestV2Batch:
    """Bursts of identifies for many people go out as v2 batches."""

    async def test_burst_uses_batches(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        sink = make_sink(fake, session, identifier_key="id")
        actions = [act(i, "identify", person=f"u{i}", attributes={"n": i}) for i in range(450)]
        report = await sink.deliver(actions)
        assert report.delivered == 450 and report.requests == 3
        assert len(fake.requests_to("POST", "/api/v2/batch")) == 3
        assert all(fake.people[f"u{i}"].attributes == {"n": i} for i in range(450))

    async def test_events_and_identifies_of_many_people_share_a_batch(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        sink = make_sink(fake, session)
        actions = [act(i, "event", person=f"e{i}", name="opened", data={"n": i})
                   for i in range(5)]
        actions.append(act(9, "identify", person="i9", attributes={"vip": True}))
        report = await sink.deliver(actions)
        assert report.delivered == 6 and report.requests == 1
        assert fake.requests_to("POST", "/api/v1/customers/.*/events") == []
        assert [e["name"] for e in fake.people["e3"].events] == ["opened"]
        assert fake.people["i9"].attributes == {"vip": True}
        await make_sink(fake, session).deliver(actions[:1])  # after a crash: same event id
        assert len(fake.people["e0"].events) == 1

    async def test_chunks_by_size(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        sink = make_sink(fake, session, max_batch_bytes=4_000)
        actions = [
            act(i, "identify", person=f"u{i}", attributes={"v": "x" * 900}) for i in range(20)
        ]
        report = await sink.deliver(actions)
        assert report.delivered == 20
        sizes = [len(r.body) for r in fake.requests_to("POST", "/api/v2/batch")]
        assert len(sizes) >= 5 and max(sizes) <= 4_000

    async def test_invalid_item_dead_lettered_rest_delivered(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        sink = make_sink(fake, session)
        bad = act(99, "identify", person="bad", attributes={"v": "x" * 2000})
        actions = [act(i, "identify", person=f"u{i}", attributes={"n": i}) for i in range(3)]
        report = await sink.deliver([*actions, bad])
        letters = sink.dead_letters
        assert isinstance(letters, InMemoryDeadLetterWriter)
        assert report.delivered == 3 and report.dead_lettered == 1
        assert letters.letters[0].action.action_id == bad.action_id


class TestFailures:
    """A 4xx from the platform reaches the dlq with the response body; dry-run writes."""

    async def test_client_error_dead_lettered_with_body(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_customerio()
        fake.faults.add(422, path="/events")
        sink = make_sink(fake, session)
        report = await sink.deliver([act(7, "event", name="x")])
        letters = sink.dead_letters
        assert isinstance(letters, InMemoryDeadLetterWriter)
        assert report.dead_lettered == 1
        letter = letters.letters[0]
        assert letter.status == 422 and letter.reason == "client_error"
        assert "injected fault" in (letter.response_body or "")

    async def test_dry_run_writes_outbox(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_customerio()
        sink = make_sink(fake, session, outbox=Outbox(tmp_path))
        report = await sink.deliver([act(8, "identify", attributes={"a": 1})])
        assert report.dry_run and report.delivered == 1 and not fake.requests
        assert (tmp_path / "outbox" / "customerio.jsonl").read_text().count("\n") == 1
