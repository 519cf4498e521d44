"""Sinks under a fault storm and a restart, against the vendor-spec fakes (no broker).

30 % of requests fail (429 with Retry-After, 500/502/503, connection resets, slow answers):
every action is still delivered exactly once (one-off actions exactly once at the fake,
attribute writes with the right final values), and no window of one second at the fake
ever holds more requests than the configured limit.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.sinks import window_bucket
from connectors.customerio.sink import CustomerIOSink
from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.errors import SinkBackpressureError
from connectors.delivery.http import HttpClient
from connectors.delivery.idempotency import DeliveredStore, FileDeliveredStore
from connectors.delivery.retry import RetryPolicy
from connectors.delivery.sink import Sink
from connectors.intercom.client import IntercomClient, intercom_http
from connectors.intercom.sink import IntercomSink
from connectors.testing.fakes import FakeCustomerIO, FakeFactory, FakeIntercom, FakeZendesk
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.sink import ZendeskSink
from contracts.actions import Action, SinkName

pytest_plugins = ["connectors.testing.pytest_plugin"]

LIMIT = 40  # requests per second the fakes allow and the buckets are sized for
POLICY = RetryPolicy(base=0.05, max_backoff=1.0, deadline=60.0)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def act(sink: SinkName, n: int, operation: str, person: str, one_off: bool, **p: Any) -> Action:
    return Action.for_transition(
        f"t{n}", sink=sink, operation=operation, customer_key=f"ck-{person}", person=person,
        payload=p, one_off=one_off,
    )


def storm(fake: Any, seed: int) -> None:
    fake.faults.random(
        0.3, (429, 500, 502, 503, "reset", "slow"), seed=seed, delay=0.3, retry_after=0.5
    )


async def drain(sink: Sink, actions: list[Action], batch: int = 40) -> None:
    """Deliver like the sink agent: batch by batch, pausing on backpressure."""
    for start in range(0, len(actions), batch):
        pending = actions[start : start + batch]
        while pending:
            try:
                await sink.deliver(pending)
                pending = []
            except SinkBackpressureError as exc:
                pending = list(exc.remaining)
                await asyncio.sleep(exc.retry_after or 1.0)


def common(store: DeliveredStore) -> dict[str, Any]:
    return {
        "store": store, "dead_letters": InMemoryDeadLetterWriter(), "policy": POLICY,
        "rng": random.Random(7),
    }


def cio_sink(fake: FakeCustomerIO, session: aiohttp.ClientSession, store: DeliveredStore
             ) -> CustomerIOSink:
    bucket = window_bucket("customerio", LIMIT, 1.0)
    client = HttpClient(session, base_url=fake.track_url, bucket=bucket,
                        auth=(fake.site_id, fake.api_key))
    return CustomerIOSink(client=client, bucket=bucket, **common(store))


def cio_actions(people: int = 30, rounds: int = 4) -> list[Action]:
    actions = []
    n = 0
    for r in range(rounds):
        for p in range(people):
            n += 1
            actions.append(act("customerio", n, "identify", f"u{p}", False,
                               attributes={"round": r, "open": r % 2 == 0}))
            n += 1
            actions.append(act("customerio", n, "event", f"u{p}", True, name="e", data={"r": r}))
    return actions


def assert_cio_exact(fake: FakeCustomerIO, actions: list[Action], rounds: int = 4) -> None:
    events = [e for person in fake.people.values() for e in person.events]
    expected = {CustomerIOSink.event_body(a)["id"] for a in actions if a.operation == "event"}
    assert len(events) == len(expected) and {e["id"] for e in events} == expected
    for person in {a.person for a in actions}:
        assert fake.people[person].attributes == {"round": rounds - 1, "open": False}


class TestStorm:
    """30 % faults: exactly-once effects and the rate limit respected."""

    async def test_customerio(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_customerio()
        storm(fake, seed=11)
        actions = cio_actions()
        await drain(cio_sink(fake, session, FileDeliveredStore(tmp_path)), actions)
        assert_cio_exact(fake, actions)
        assert len(fake.faults.injected) > 20
        assert fake.max_rate(1.0) <= LIMIT

    async def test_zendesk_tickets_once(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_zendesk()
        storm(fake, seed=12)
        bucket = window_bucket("zendesk", LIMIT, 1.0)
        http = HttpClient(session, base_url=fake.base_url, bucket=bucket,
                          auth=("agent@example.com/token", "test-token"))
        sink = ZendeskSink(client=ZendeskClient(http, job_poll_interval=0.05), bucket=bucket,
                           **common(FileDeliveredStore(tmp_path)))
        actions = [
            act("zendesk", i, "create_ticket", f"u{i % 7}@example.com", True,
                ticket={"subject": f"s{i}", "comment": {"body": "b"},
                        "requester": {"email": f"u{i % 7}@example.com", "name": "U"}})
            for i in range(60)
        ]
        await drain(sink, actions)
        external = sorted(t["external_id"] for t in fake.tickets.values())
        assert external == sorted(a.action_id for a in actions)
        assert fake.max_rate(1.0) <= LIMIT

    async def test_intercom_contacts_and_events(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_intercom()
        storm(fake, seed=13)
        bucket = window_bucket("intercom", LIMIT, 1.0)
        http = intercom_http(session, fake.token, base_url=fake.base_url, bucket=bucket)
        sink = IntercomSink(client=IntercomClient(http), bucket=bucket,
                            **common(FileDeliveredStore(tmp_path)))
        actions = []
        for r in range(3):
            for p in range(15):
                person = f"c{p}@example.com"
                actions.append(act("intercom", r * 100 + p, "update_contact", person, False,
                                   attributes={"round": r}))
                actions.append(act("intercom", r * 100 + p + 50, "data_event", person, True,
                                   event_name=f"e{r}", created_at=1_700_000_000))
        await drain(sink, actions)
        assert len(fake.contacts) == 15
        assert all(c["custom_attributes"] == {"round": 2} for c in fake.contacts.values())
        assert len(fake.events) == 45
        assert len({(e["email"], e["event_name"]) for e in fake.events}) == 45
        assert fake.max_rate(1.0) <= LIMIT


class TestRestart:
    """A worker killed mid-storm and restarted on the same store repeats nothing."""

    async def test_customerio_restart(
        self, fake_customerio: FakeFactory[FakeCustomerIO], session: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        fake = await fake_customerio()
        storm(fake, seed=21)
        actions = cio_actions()
        first = asyncio.create_task(
            drain(cio_sink(fake, session, FileDeliveredStore(tmp_path)), actions)
        )
        await asyncio.sleep(1.5)
        first.cancel()  # the crash: in-flight requests may have landed unmarked
        with pytest.raises(asyncio.CancelledError):
            await first
        delivered_before = sum(len(p.events) for p in fake.people.values())
        reopened = FileDeliveredStore(tmp_path)  # a new process reads the log
        assert 0 < len(reopened) < len(actions)
        await drain(cio_sink(fake, session, reopened), actions)
        assert delivered_before > 0
        assert_cio_exact(fake, actions)
        assert fake.max_rate(1.0) <= LIMIT + 1  # two processes may overlap by one token
