"""Backfill through the real broker: interrupted and resumed, every ticket once on the raw
topic; then a worker processes it and the customers' states reflect the tickets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from app.backfill.runner import Backfill
from app.backfill.sources import ZendeskSource
from app.backfill.state import StateFile
from app.backfill.writer import ITEM, RawWriter
from app.replay import offsets
from app.replay.progress import Progress
from app.testing import WorkerProcess
from connectors.delivery.http import HttpClient
from connectors.testing.fakes import FakeCustomerIO, FakeZendesk
from connectors.testing.threaded import serve_in_thread
from connectors.zendesk.export import ZendeskExport
from contracts.records import RawEnvelope, decode_raw_batch
from streams.runtime.broker import EmbeddedBroker, ensure_topics
from tests.integration.support import CIO_KEY, CIO_SITE, state_of, wait_for, worker_env

pytestmark = pytest.mark.broker

PARTITIONS = 4
DAY = 86400.0


class CrashingWriter(RawWriter):
    """Acknowledged by the broker, then 'killed' before the cursor is stored."""

    crash_on = 3
    writes = 0

    async def write(self, envelopes: list[RawEnvelope]) -> None:
        await super().write(envelopes)
        self.writes += 1
        if self.writes == self.crash_on:
            raise RuntimeError("killed after the write")


def seed(fake: FakeZendesk) -> dict[str, tuple[int, int]]:
    """12 customers; the first 6 keep one open ticket. Returns email -> (open, total)."""
    expected: dict[str, tuple[int, int]] = {}
    base = time.time() - 10 * DAY
    n = 0
    for c in range(12):
        email = f"backfill{c}@example.com"
        user = fake._upsert_user({"email": email, "name": f"B{c}"})[0]
        total = 3 + c % 3
        for t in range(total):
            status = "open" if c < 6 and t == total - 1 else "solved"
            n += 1
            fake.seed_ticket(updated_at=base + n * 60, requester_id=user["id"], status=status)
        expected[email] = (1 if c < 6 else 0, total)
    return expected


def raw_ids(bootstrap: str, topic: str) -> Counter[str]:
    async def read() -> Counter[str]:
        c = offsets.consumer(bootstrap)
        await c.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            ends = await offsets.true_end_offsets(c, tps)
            c.assign(tps)
            for tp in tps:
                c.seek(tp, 0)
            seen: Counter[str] = Counter()
            left = {tp for tp in tps if ends[tp] > 0}
            while left:
                got = await c.getmany(*tps, timeout_ms=1000)
                for tp, records in got.items():
                    for r in records:
                        seen.update(e.headers[ITEM] for e in decode_raw_batch(r.value or b""))
                        if r.offset + 1 >= ends[tp]:
                            left.discard(tp)
            return seen
        finally:
            await c.stop()

    return asyncio.run(read())


class TestBackfillZendesk:
    """Interrupted backfill, resumed by the CLI, processed by a worker."""

    def test_interrupted_resumed_exactly_once_then_states(
        self, broker: EmbeddedBroker, tmp_path: Path
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        prefix, app_id = f"bf{tag}.", f"supportsync-{tag}"
        topic = f"{prefix}raw.zendesk"
        bootstrap = broker.bootstrap_servers
        with (
            serve_in_thread(FakeZendesk(page_size=10)) as zd,
            serve_in_thread(FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)) as cio,
        ):
            expected = seed(zd)
            since = float(int(time.time() - 30 * DAY))  # --since has whole seconds

            async def first_run() -> None:
                await ensure_topics(bootstrap, [topic], PARTITIONS)
                import aiohttp

                async with aiohttp.ClientSession() as session:
                    auth = ("agent@example.com/token", "test-token")
                    http = HttpClient(session, base_url=zd.base_url, auth=auth)
                    source = ZendeskSource(ZendeskExport(http))
                    async with CrashingWriter(bootstrap, topic, PARTITIONS) as writer:
                        job = Backfill(source, writer, StateFile(tmp_path, "zendesk"),
                                       progress=Progress("t", interval=3600))
                        with pytest.raises(RuntimeError):
                            await job.run(since)

            asyncio.run(first_run())
            assert 0 < sum(raw_ids(bootstrap, topic).values()) < len(zd.tickets)
            env = {
                **os.environ,
                "SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "SUPPORTSYNC_TOPIC_PREFIX": prefix,
                "SUPPORTSYNC_APP_ID": app_id,
                "SUPPORTSYNC_DATA_DIR": str(tmp_path),
                "SUPPORTSYNC_PARTITIONS": str(PARTITIONS),
                "SUPPORTSYNC_ZENDESK_BASE_URL": zd.base_url,
                "SUPPORTSYNC_ZENDESK_EMAIL": "agent@example.com",
                "SUPPORTSYNC_ZENDESK_API_TOKEN": "test-token",
            }
            since_arg = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
            done = subprocess.run(
                [sys.executable, "-m", "app.cli", "backfill", "zendesk", "--since", since_arg],
                env=env, capture_output=True, text=True, timeout=120, check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert "complete" in done.stderr and "written" in done.stderr  # progress shown
            assert "new --since" not in done.stderr, "resumed from the stored cursor"
            ids = raw_ids(bootstrap, topic)
            assert len(ids) == len(zd.tickets) and set(ids.values()) == {1}, ids.most_common(3)

            with WorkerProcess(bootstrap, env={**worker_env(cio.track_url)}, prefix=prefix,
                               app_id=app_id, data_dir=tmp_path / "worker") as worker:
                worker.wait_healthy(timeout=60)
                for email, (open_count, total) in expected.items():

                    def settled(e: str = email, n: int = total) -> dict[str, Any] | None:
                        s = state_of(worker.admin_port, e)
                        return s if s is not None and len(s["tickets"]) == n else None

                    doc = wait_for(settled, timeout=60, what=f"state of {email}")
                    assert doc is not None
                    assert doc["attributes"]["open_ticket_count"] == open_count
                    assert doc["attributes"]["has_open_ticket"] is bool(open_count)
                # Ten-day-old tickets: attributes are synced, one-off events are not sent
                # (S7). Delivery follows the state: wait for it rather than read it once.
                wait_for(lambda: cio.requests, timeout=30, what="attributes delivered")
            assert not [r for r in cio.requests if r.path.endswith("/events")]
