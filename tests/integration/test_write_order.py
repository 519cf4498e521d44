"""An attribute write read after a newer one never reaches the platform (streams/writeorder.py).

Through the broker: the out-topic records are produced in the wrong order, as a refetched
hole or a replay hands them to the deliver agent, and Customer.io (the contract-checking
fake) must end with the newer value and never see the older one.
"""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from app.testing import WorkerProcess
from connectors.testing.fakes.customerio import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from contracts.actions import Action
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import wait_for

pytestmark = pytest.mark.broker

PERSON = "order@example.com"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _identify(n: int, at: float, **attributes: object) -> Action:
    return Action.for_transition(
        f"tr-{n}", sink="customerio", operation="identify", customer_key="ck-order",
        person=PERSON, payload={"attributes": attributes},
    ).replace(created_at=T0 + timedelta(seconds=at))


def _event(n: int) -> Action:
    return Action.for_transition(
        f"tr-{n}", sink="customerio", operation="event", customer_key="ck-order",
        person=PERSON, one_off=True, payload={"name": "order_marker", "data": {}},
    )


def _produce(bootstrap: str, topic: str, batches: list[list[Action]]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for actions in batches:
                items = [a.to_dict() for a in actions]
                await producer.send_and_wait(
                    topic, orjson.dumps({"v": 1, "items": items}), key=b"ck-order", partition=0
                )
        finally:
            await producer.stop()

    asyncio.run(run())


def _stale_writes(worker: WorkerProcess) -> float:
    with urllib.request.urlopen(worker.admin_url("/metrics"), timeout=5) as answer:
        text = answer.read().decode()
    for line in text.splitlines():
        if line.startswith('supportsync_stale_attribute_writes_total{sink="customerio"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class TestOutOfOrderAttributeWrites:
    """The older of two writes, read second, is dropped; its other attributes still go."""

    def test_newer_value_stays(self, broker: EmbeddedBroker) -> None:
        with serve_in_thread(FakeCustomerIO(site_id="s", api_key="k")) as cio, WorkerProcess(
            broker.bootstrap_servers,
            env={
                "SUPPORTSYNC_SINKS": "customerio",
                "SUPPORTSYNC_CUSTOMERIO_TRACK_URL": cio.track_url,
                "SUPPORTSYNC_CUSTOMERIO_SITE_ID": "s",
                "SUPPORTSYNC_CUSTOMERIO_API_KEY": "k",
                # One ingress source: a worker answering every webhook 404 is not healthy.
                "SUPPORTSYNC_PIPELINES_WRITE_KEY": "write-order-key-0",
            },
        ) as worker:
            worker.wait_healthy(timeout=90)
            newer = _identify(2, 10.0, last_ticket_status="closed")
            older = _identify(1, 5.0, last_ticket_status="solved", csat_score=4)
            stale_only = _identify(0, 1.0, last_ticket_status="open")
            # One record each, in the wrong order; the event after them marks "all handled".
            _produce(broker.bootstrap_servers, f"{worker.prefix}out.customerio",
                     [[newer], [older], [stale_only], [_event(3)]])
            wait_for(lambda: cio.people.get(PERSON) and cio.people[PERSON].events, 60,
                     "the marker event")
            assert cio.people[PERSON].attributes == {
                "last_ticket_status": "closed", "csat_score": 4,
            }
            # Records may be delivered one by one or together (coalesced into one write):
            # either way no request ever carried an older status.
            sent = [r.json for r in cio.requests_to("PUT", "/api/v1/customers/.*")]
            assert {s.get("last_ticket_status") for s in sent} <= {"closed", None}
            assert sent[0].get("last_ticket_status") == "closed"
            assert _stale_writes(worker) == 1.0
            cio.assert_no_violations()
