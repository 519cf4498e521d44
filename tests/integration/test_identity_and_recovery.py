"""Identity merges and state recovery, through the real broker and real worker processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import msgspec
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from contracts.partitioner import partition_for
from streams.runtime.broker import EmbeddedBroker
from streams.state.model import SupportState
from tests.integration.support import (
    CIO_KEY,
    CIO_SITE,
    iso,
    minutes_ago,
    post,
    state_of,
    trigger_body,
    wait_for,
    worker_env,
    zendesk_headers,
)

pytestmark = pytest.mark.broker


@pytest.fixture
def cio() -> Iterator[FakeCustomerIO]:
    with serve_in_thread(FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)) as fake:
        yield fake
    fake.assert_no_violations()


def _identifies(cio: FakeCustomerIO, email: str) -> list[dict[str, object]]:
    paths = {f"/api/v1/customers/{quote(email, safe='')}", f"/api/v1/customers/{email}"}
    return [r.json for r in cio.requests if r.method == "PUT" and r.path in paths]


def _send(worker: WorkerProcess, body: bytes) -> None:
    status, answer = post(worker.url("/webhooks/zendesk"), body, zendesk_headers(body))
    assert status == 200, answer


class TestIdentityMerge:
    """A requester known first only by Zendesk user id, then by email, ends as one customer."""

    def test_user_event_merges_two_keys_into_one_state(
        self, broker: EmbeddedBroker, cio: FakeCustomerIO
    ) -> None:
        email = "merge.me@example.com"
        with WorkerProcess(broker.bootstrap_servers, env=worker_env(cio.track_url)) as worker:
            worker.wait_healthy(timeout=60)
            # 1. an event-subscribed ticket: only requester_id, no email yet
            ticket_event = orjson.dumps({
                "type": "zen:event-type:ticket.created",
                "id": "evt-merge-1",
                "time": iso(minutes_ago(30)),
                "subject": "zen:ticket:501",
                "detail": {"id": "501", "status": "NEW", "requester_id": "7001",
                           "updated_at": iso(minutes_ago(30))},
            })
            _send(worker, ticket_event)
            # 2. a trigger body for another ticket: email only
            _send(worker, trigger_body("502", "Open", minutes_ago(20), email))
            first = wait_for(lambda: _identifies(cio, email), what="identify by email")
            assert first[0]["open_ticket_count"] == 1
            # 3. the user event links user id 7001 and the email: the two states merge
            user_event = orjson.dumps({
                "type": "zen:event-type:user.created",
                "id": "evt-merge-user",
                "time": iso(minutes_ago(10)),
                "detail": {"id": "7001", "email": email, "role": "end-user"},
            })
            _send(worker, user_event)
            wait_for(
                lambda: [a for a in _identifies(cio, email) if a.get("open_ticket_count") == 2],
                what="identify with both tickets after the merge",
            )
            assert cio.person(email).attributes["has_open_ticket"] is True
            # 4. later events for the old key land on the merged state too
            solved = orjson.dumps({
                "type": "zen:event-type:ticket.status_changed",
                "id": "evt-merge-2",
                "time": iso(minutes_ago(5)),
                "detail": {"id": "501", "status": "SOLVED", "requester_id": "7001",
                           "updated_at": iso(minutes_ago(5))},
                "event": {"current": "SOLVED", "previous": "NEW"},
            })
            _send(worker, solved)
            wait_for(
                lambda: [a for a in _identifies(cio, email) if a.get("open_ticket_count") == 1
                         and a is not first[0]],
                what="identify after solving the first key's ticket",
            )
            assert cio.person(email).attributes["open_ticket_count"] == 1
            assert cio.person(email).attributes["has_open_ticket"] is True


class TestRecovery:
    """A worker restarted on the same broker restores state from the changelog."""

    @pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
    def test_state_survives_a_worker_restart(
        self, broker: EmbeddedBroker, cio: FakeCustomerIO, store: str, tmp_path: Path
    ) -> None:
        email = f"restart-{store[:3]}@example.com"
        env = {**worker_env(cio.track_url), "SUPPORTSYNC_STORE": store}
        # A data dir of the test's: the restart below must find the first worker's store.
        first = WorkerProcess(broker.bootstrap_servers, env=env, data_dir=tmp_path / "worker")
        with first:
            first.wait_healthy(timeout=60)
            _send(first, trigger_body("601", "Open", minutes_ago(30), email))
            _send(first, trigger_body("602", "Open", minutes_ago(25), email))
            wait_for(
                lambda: any(a.get("open_ticket_count") == 2 for a in _identifies(cio, email)),
                what="two open tickets before the restart",
            )
        # Same group, topics and data dir: a fresh process must recover, not start empty.
        second = WorkerProcess(
            broker.bootstrap_servers, env=env, prefix=first.prefix, app_id=first.app_id,
            data_dir=first.data_dir,
        )
        with second:
            second.wait_healthy(timeout=90)
            _send(second, trigger_body("601", "Solved", minutes_ago(10), email))
            after = wait_for(
                lambda: [a for a in _identifies(cio, email) if a.get("open_ticket_count") == 1],
                what="identify after the restart",
            )
            # Had the state been lost, ticket 602 would be unknown and nothing left open.
            assert after[-1].get("has_open_ticket", True) is True
            assert cio.person(email).attributes["has_open_ticket"] is True


async def _append_states_as_one_batch(
    bootstrap: str, topic: str, partition: int, values: dict[str, bytes]
) -> None:
    """What a flush cut short by SIGKILL leaves: its records in one batch, last in the log."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        batch = producer.create_batch()
        for key, value in values.items():
            assert batch.append(key=key.encode(), value=value, timestamp=None) is not None
        await (await producer.send_batch(batch, topic, partition=partition))
    finally:
        await producer.stop()


def _changelog_record(bootstrap: str, topic: str) -> tuple[int, bytes]:
    async def first() -> tuple[int, bytes]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=30)
            assert record.value is not None
            return record.partition, record.value
        finally:
            await consumer.stop()

    return asyncio.run(first())


class TestRecoveryReadsToTheTrueEnd:
    """A changelog whose last batch holds many records (a flush cut short) is read whole."""

    def test_every_state_of_a_trailing_batch_is_recovered(
        self, broker: EmbeddedBroker, cio: FakeCustomerIO, tmp_path: Path
    ) -> None:
        env = worker_env(cio.track_url)
        first = WorkerProcess(broker.bootstrap_servers, env=env, data_dir=tmp_path / "worker")
        with first:
            first.wait_healthy(timeout=60)
            _send(first, trigger_body("701", "Open", minutes_ago(30), "trailing@example.com"))
            wait_for(lambda: _identifies(cio, "trailing@example.com"), what="first state")
        changelog = f"{first.app_id}-v1-state-v1-changelog"
        partition, template = _changelog_record(broker.bootstrap_servers, changelog)
        # Customer keys that live on that partition, each with a copy of the stored state.
        keys = [k for k in (f"c:trailing{i:04d}" for i in range(400))
                if partition_for(k, 4) == partition][:6]
        state = SupportState.from_bytes(template)
        values = {k: msgspec.structs.replace(state, customer_key=k).to_bytes() for k in keys}
        asyncio.run(_append_states_as_one_batch(
            broker.bootstrap_servers, changelog, partition, values
        ))
        second = WorkerProcess(
            broker.bootstrap_servers, env=env, prefix=first.prefix, app_id=first.app_id,
            data_dir=first.data_dir,
        )
        with second:
            second.wait_healthy(timeout=90)
            missing = [k for k in keys if state_of(second.admin_port, k) is None]
        # Tansu reports the end of that partition as the batch's first offset + 1: a worker
        # trusting it stops reading there and loses the rest (the crash-safety bug).
        assert not missing, f"{len(missing)} of {len(keys)} states not recovered: {missing}"

