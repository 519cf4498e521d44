"""Erasure and the audit trail through a real worker and broker (`supportsync forget`,
`supportsync audit`, `DELETE /state/…`, `GET /audit/…`)."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import (
    CIO_KEY,
    CIO_SITE,
    cli,
    minutes_ago,
    post,
    state_of,
    trigger_body,
    wait_for,
    worker_env,
    zendesk_headers,
)

pytestmark = pytest.mark.broker


def _env(proc: WorkerProcess, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "SUPPORTSYNC_STATE_VERSION"}
    return {
        **base,
        "SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS": proc.env["SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS"],
        "SUPPORTSYNC_TOPIC_PREFIX": proc.prefix,
        "SUPPORTSYNC_APP_ID": proc.app_id,
        "SUPPORTSYNC_PARTITIONS": "4",
        "SUPPORTSYNC_ADMIN_PORT": str(proc.admin_port),
        **extra,
    }


def _read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, bytes | None]]:
    """Every (key, value) record of a 4-partition topic."""

    async def read() -> list[tuple[bytes, bytes | None]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(4)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            found: list[tuple[bytes, bytes | None]] = []
            for _ in range(6):
                got = await consumer.getmany(timeout_ms=500)
                found += [(m.key, m.value) for records in got.values() for m in records]
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _delete(url: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def _ticket(proc: WorkerProcess, ticket: str, email: str, when: datetime) -> None:
    body = trigger_body(ticket, "Open", when, email)
    assert post(proc.url("/webhooks/zendesk"), body, zendesk_headers(body))[0] == 200



def _suppressed(cio: FakeCustomerIO, *emails: str) -> bool:
    """Each person got the ticket's event and the suppression write (in however many
    requests the deliver dispatcher batched them)."""
    people = [cio.people.get(e) for e in emails]
    return all(p is not None and p.events and p.attributes.get("has_open_ticket")
               for p in people)

class TestForget:
    """`forget` removes the person; neither a replay nor old data brings them back."""

    def test_forget_replay_and_new_ticket(self, broker: EmbeddedBroker, tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        erased, kept = f"erase-me-{tag}@example.com", f"keep-me-{tag}@example.com"
        started = time.time()
        bootstrap = broker.bootstrap_servers
        with serve_in_thread(FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)) as cio:
            wenv = worker_env(cio.track_url)
            live = WorkerProcess(broker.bootstrap_servers, env=wenv, data_dir=tmp_path / "live")
            with live:
                live.wait_healthy(timeout=60)
                env = _env(live, SUPPORTSYNC_DATA_DIR=str(tmp_path / "cli"))
                _ticket(live, "901", erased, minutes_ago(30))
                _ticket(live, "902", kept, minutes_ago(30))
                for email in (erased, kept):
                    wait_for(lambda e=email: state_of(live.admin_port, e), timeout=30,  # type: ignore[misc]
                             what=f"state of {email}")
                wait_for(lambda: _suppressed(cio, erased, kept), timeout=30, what="deliveries")
                key = state_of(live.admin_port, erased)["customer_key"]  # type: ignore[index]
                audited = orjson.loads(cli(env, "audit", erased, "--json").stdout)["entries"]
                action_ids = {e["action_id"] for e in audited}
                assert action_ids

                done = cli(env, "forget", erased)
                assert done.returncode == 0, done.stdout + done.stderr[-2000:]
                assert orjson.loads(done.stdout)["customer_key"] == key
                wait_for(lambda: state_of(live.admin_port, erased) is None, timeout=30,
                         what="state removed")
                assert _delete(live.admin_url(f"/state/{erased}"))[0] == 404  # links gone too
                assert state_of(live.admin_port, key) is None

                # The erasure is recorded, without the address.
                records = [v for _, v in _read_topic(bootstrap, f"{live.prefix}erasures") if v]
                docs = [orjson.loads(r) for r in records]
                assert [d["customer_key"] for d in docs] == [key]
                assert not any(erased.encode() in r for r in records)

                # Tombstones: the newest record of each of the person's keys is a deletion.
                def newest(table: str) -> dict[bytes, bytes | None]:
                    topic = f"{live.app_id}-v1-{table}-changelog"
                    return dict(_read_topic(bootstrap, topic))

                delivered = newest("delivered")
                assert {k.decode() for k in delivered} >= action_ids
                assert all(delivered[i.encode()] is None for i in action_ids)
                links = newest("identity-v1")
                assert links[f"email:{erased}".encode()] is None
                assert links[f"email:{kept}".encode()] is not None
                last_sent = newest("last-sent")
                assert last_sent[f"{key}|customerio".encode()] is None

                # The platform re-sends the old ticket: dropped, nothing comes back.
                sent = len(cio.requests)
                _ticket(live, "901", erased, minutes_ago(29))
                time.sleep(3.0)
                assert state_of(live.admin_port, erased) is None
                assert len(cio.requests) == sent

                # A replay of the raw topics into a new version: the person stays erased.
                done = cli(env, "replay", "--from", str(started - 60), "--version", "v2")
                assert done.returncode == 0, done.stdout + done.stderr[-3000:]
            assert cli(env, "version", "use", "v2").returncode == 0
            with WorkerProcess(broker.bootstrap_servers, env=wenv, prefix=live.prefix,
                               app_id=live.app_id, data_dir=tmp_path / "v2") as nxt:
                nxt.wait_healthy(timeout=60)
                wait_for(lambda: state_of(nxt.admin_port, kept), timeout=30, what="kept state")
                assert state_of(nxt.admin_port, erased) is None
                assert state_of(nxt.admin_port, key) is None

                # A genuinely new ticket after the erasure is processed again.
                _ticket(nxt, "903", erased, datetime.now(UTC) + timedelta(seconds=2))
                doc = wait_for(lambda: state_of(nxt.admin_port, erased), timeout=30,
                               what="new state after erasure")
                assert [t["id"] for t in doc["tickets"]] == ["903"]


class TestAudit:
    """Each delivered action is audited per customer, without personal fields."""

    def test_audit_lists_suppression(self, broker: EmbeddedBroker, tmp_path: Path) -> None:
        email = f"audit-{uuid.uuid4().hex[:8]}@example.com"
        with serve_in_thread(FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)) as cio:
            proc = WorkerProcess(broker.bootstrap_servers, env=worker_env(cio.track_url),
                                 data_dir=tmp_path / "w")
            with proc:
                proc.wait_healthy(timeout=60)
                env = _env(proc, SUPPORTSYNC_DATA_DIR=str(tmp_path / "cli"))
                _ticket(proc, "951", email, minutes_ago(5))
                wait_for(lambda: _suppressed(cio, email), timeout=30, what="deliveries")
                key = wait_for(lambda: state_of(proc.admin_port, email), timeout=30)[
                    "customer_key"
                ]

                def audited() -> dict[str, Any] | None:
                    done = cli(env, "audit", email, "--json")
                    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
                    doc: dict[str, Any] = orjson.loads(done.stdout)
                    return doc if len(doc["entries"]) >= 2 else None

                doc = wait_for(audited, timeout=30, what="audit entries")
                assert doc["customer_key"] == key
                entries = doc["entries"]
                assert {e["customer_key"] for e in entries} == {key}
                identify = [e for e in entries if e["operation"] == "identify"]
                assert identify and identify[0]["sink"] == "customerio"
                assert identify[0]["outcome"] == "delivered"
                assert identify[0]["recipe"] == "R1"
                assert identify[0]["dry_run"] is False
                raw = orjson.dumps(doc).decode()
                assert email not in raw and "has_open_ticket" not in raw

                text = cli(env, "audit", email)
                assert text.returncode == 0 and "customerio:  identify  delivered" in text.stdout
