"""Delivery under load through the broker and the Customer.io fake enforcing 100 requests/s:
records are delivered many at a time (v2 batches form), and two workers of one group share
the account's budget (no 429 once the first second is over)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO, RateLimit
from connectors.testing.fakes.customerio import Person
from connectors.testing.threaded import serve_in_thread
from contracts.actions import Action
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import (
    CIO_KEY,
    CIO_SITE,
    minutes_ago,
    post,
    trigger_body,
    wait_for,
    worker_env,
    zendesk_headers,
)

pytestmark = pytest.mark.broker

TICKETS = 300  # each: a suppression identify (batchable) and a one-off event (one request)


@pytest.fixture
def cio() -> Iterator[FakeCustomerIO]:
    fake = FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY, rate_limit=RateLimit(100, 1.0))
    with serve_in_thread(fake) as served:
        yield served
    fake.assert_no_violations()


def _open_tickets(urls: list[str], tag: str) -> list[str]:
    opened = minutes_ago(5)
    emails = [f"load-{tag}-{i}@example.com" for i in range(TICKETS)]

    def send(i: int) -> None:
        body = trigger_body(f"{tag}{i}", "Open", opened, emails[i])
        status, _ = post(urls[i % len(urls)], body, zendesk_headers(body))
        assert status == 200

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(TICKETS)))
    return emails


def _suppressed(cio: FakeCustomerIO, emails: list[str]) -> bool:
    people = cio.people
    return all(
        e in people and people[e].attributes.get("has_open_ticket") is True for e in emails
    )


def _late_429s(cio: FakeCustomerIO) -> list[float]:
    """Seconds after the first request of every 429 answered later than the first second."""
    requests = list(cio.requests)
    first = min(r.timestamp for r in requests)
    return [r.timestamp - first for r in requests
            if r.status == 429 and r.timestamp - first > 1.0]


def _events_delivered(cio: FakeCustomerIO, emails: list[str]) -> bool:
    people = cio.people
    return all(e in people and people[e].events for e in emails)


def _env(cio: FakeCustomerIO) -> dict[str, str]:
    return {**worker_env(cio.track_url), "SUPPORTSYNC_SINKS": "customerio",
            "SUPPORTSYNC_CUSTOMERIO_RATE_PER_S": "100"}


class TestDeliveryUnderLoad:
    """Many records' actions share requests; the group stays within the account's limit."""

    def test_v2_batches_form_from_many_records(
        self, broker: EmbeddedBroker, cio: FakeCustomerIO
    ) -> None:
        with WorkerProcess(broker.bootstrap_servers, env=_env(cio)) as worker:
            worker.wait_healthy(timeout=90)
            emails = _open_tickets([worker.url("/webhooks/zendesk")], "one")
            wait_for(lambda: _suppressed(cio, emails), 120, "every customer suppressed")
        batches = [orjson.loads(r.body)["batch"] for r in cio.requests_to("POST",
                                                                         r"/api/v2/batch")]
        in_batches = sum(len(b) for b in batches)
        single = len(cio.requests_to("PUT", r"/api/v1/customers/.*")) + len(
            cio.requests_to("POST", r"/api/v1/customers/.*/events"))
        print(f"v2 batches {len(batches)} carrying {in_batches}, v1 requests {single}")
        assert batches and max(len(b) for b in batches) > 1
        assert in_batches > single  # most of the 2 x TICKETS actions shared a request
        assert _late_429s(cio) == []

    def test_two_workers_share_the_account_budget(
        self, broker: EmbeddedBroker, cio: FakeCustomerIO
    ) -> None:
        with ExitStack() as stack:
            first = stack.enter_context(WorkerProcess(broker.bootstrap_servers, env=_env(cio)))
            second = stack.enter_context(WorkerProcess(
                broker.bootstrap_servers, env=_env(cio), prefix=first.prefix,
                app_id=first.app_id,
            ))
            first.wait_healthy(timeout=90)
            second.wait_healthy(timeout=90)
            wait_for(lambda: first.health() == 200 and second.health() == 200, 90,
                     "both workers assigned")
            # Two events per person: the ordered v1 path, one request each, ~6 s of the
            # account's 100 requests/s — more than either worker's share could send alone.
            people = [f"share-{i}" for i in range(300)]
            _produce_events(broker.bootstrap_servers, f"{first.prefix}out.customerio", people)
            wait_for(lambda: all(len(cio.people.get(p, _NOBODY).events) == 2 for p in people),
                     120, "every event")
        assert _late_429s(cio) == []


_NOBODY = Person()


def _produce_events(bootstrap: str, topic: str, people: list[str]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        await producer.start()
        try:
            for i, person in enumerate(people):
                actions = [
                    Action.for_transition(
                        f"share-{i}-{n}", sink="customerio", operation="event",
                        customer_key=f"ck-{person}", person=person, one_off=True,
                        payload={"name": "load", "data": {"n": n}},
                    ).to_dict()
                    for n in range(2)
                ]
                await producer.send(topic, orjson.dumps({"v": 1, "items": actions}),
                                    key=f"ck-{person}".encode(), partition=i % 4)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(run())
