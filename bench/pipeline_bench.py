"""Pipeline benchmark (issue 2 §6), all on one embedded broker in one run.

(a) bare aiokafka: consume the raw records, decode every envelope, produce one record per
    event — what a per-event stage costs without Faust;
(b) supportsync: the same raw records through the worker (normalize → identity → state →
    routing) until every expected action is on out.customerio; ratio b/a in events/s;
(c) end-to-end latency: signed webhook POST → the fake Customer.io receiving the
    suppression identify, p50/p99 at steady 500 and 2,000 events/s;
(d) worker start-up to /healthz 200.

Every customer gets exactly two events (ticket opened, then solved) so the expected action
count is known: identify + zendesk_ticket_created, identify + support_ticket_resolved.
Windows stay short (≤ ~40k records) because Tansu degrades under sustained small-batch
load past ~140k records (STACK-NOTES); production uses Apache Kafka.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.ingress.batcher import RawBatcher
from app.testing import WorkerProcess
from bench import ROUTE_EVERYWHERE
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from contracts.records import RawEnvelope, decode_raw_batch
from streams.runtime.broker import EmbeddedBroker, ensure_topics
from tests.integration.support import CIO_KEY, CIO_SITE, trigger_body, worker_env, zendesk_headers

Row = tuple[str, str, str]
PARTITIONS = 4


def _events(customers: int, tag: str) -> list[tuple[str, bytes]]:
    """(routing key, body) pairs: every customer opens a ticket, later solves it."""
    opened = datetime.now(UTC) - timedelta(minutes=30)
    solved = opened + timedelta(minutes=10)
    first, second = [], []
    for i in range(customers):
        email = f"bench-{tag}-{i}@example.com"
        first.append((f"email:{email}", trigger_body(str(i + 1), "Open", opened, email)))
        second.append((f"email:{email}", trigger_body(str(i + 1), "Solved", solved, email)))
    return first + second


async def _fill_raw(bootstrap: str, topic: str, events: list[tuple[str, bytes]]) -> int:
    """Write the events as the ingress would under load (RawBatcher); returns records."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    try:
        batcher = RawBatcher(producer, lambda _s: topic, PARTITIONS, linger_s=0.003)
        now = time.time()
        chunk = 2000
        for start in range(0, len(events), chunk):
            await asyncio.gather(
                *(
                    batcher.submit(
                        RawEnvelope(source="zendesk", body=body.decode(), received_at=now, key=key)
                    )
                    for key, body in events[start : start + chunk]
                )
            )
        await batcher.flush_all()
    finally:
        await producer.stop()
    return len(events)


async def _bare_passthrough(bootstrap: str, src: str, dst: str, expected: int) -> float:
    """(a): events/s of a bare consume → decode → produce-per-event loop."""
    consumer = AIOKafkaConsumer(
        src, bootstrap_servers=bootstrap, group_id=f"bare-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", fetch_max_wait_ms=10, enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await consumer.start()
    await producer.start()
    seen = 0
    started: float | None = None
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for records in batches.values():
                for record in records:
                    started = started or time.perf_counter()
                    for env in decode_raw_batch(record.value):  # the raw topic's frame
                        body = orjson.loads(env.body)
                        out = orjson.dumps({"k": env.key, "t": body["ticket"]["status"]})
                        await producer.send(dst, out, key=env.key.encode())
                        seen += 1
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()
    assert started is not None
    return seen / (time.perf_counter() - started)


async def _count_actions(bootstrap: str, topic: str, expected: int, limit_s: float) -> float:
    """Seconds from the first to the last expected action record on `topic`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"count-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", fetch_max_wait_ms=10,
    )
    await consumer.start()
    seen = 0
    deadline = time.monotonic() + limit_s
    try:
        while seen < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {seen}/{expected} actions on {topic}")
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    seen += len(orjson.loads(record.value)["items"])
    finally:
        await consumer.stop()
    return seen


def throughput(broker: EmbeddedBroker, customers: int = 10_000) -> list[Row]:
    tag = uuid.uuid4().hex[:6]
    events = _events(customers, tag)
    bootstrap = broker.bootstrap_servers
    bare_src, bare_dst = f"bench{tag}.bare-in", f"bench{tag}.bare-out"
    asyncio.run(ensure_topics(bootstrap, [bare_src, bare_dst], PARTITIONS))
    asyncio.run(_fill_raw(bootstrap, bare_src, events))
    bare_rate = asyncio.run(_bare_passthrough(bootstrap, bare_src, bare_dst, len(events)))

    prefix = f"bench{tag}."
    # No sink runs, but every destination has (placeholder) credentials, so routing makes
    # the actions for all of them as a production worker would.
    env = {"SUPPORTSYNC_SINKS": "", "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": "bench",
           **ROUTE_EVERYWHERE}
    with WorkerProcess(bootstrap, env=env, prefix=prefix) as worker:
        ready = worker.wait_healthy(timeout=90)
        started = time.perf_counter()
        asyncio.run(_fill_raw(bootstrap, f"{prefix}raw.zendesk", events))
        expected = 4 * customers
        asyncio.run(_count_actions(bootstrap, f"{prefix}out.customerio", expected, limit_s=600))
        elapsed = time.perf_counter() - started
    pipeline_rate = len(events) / elapsed
    return [
        ("(a) bare aiokafka consume→decode→produce", f"{bare_rate:,.0f} events/s",
         f"{len(events):,} events, one output record per event"),
        ("(b) supportsync raw → out.customerio", f"{pipeline_rate:,.0f} events/s",
         f"{expected:,} actions; includes producing the raw records"),
        ("ratio b/a", f"{pipeline_rate / bare_rate:.2f}", "target ≥ 0.5"),
        ("(d) worker start-up to ready", f"{ready:.1f} s",
         "target ≤ 5 s (process start → /healthz 200)"),
    ]


async def _steady_load(url: str, rate: float, seconds: float, tag: str) -> dict[str, float]:
    """POST one new ticket per customer at `rate`/s; returns email → send time."""
    sent: dict[str, float] = {}
    opened = datetime.now(UTC) - timedelta(minutes=1)
    total = int(rate * seconds)
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(i: int) -> None:
            email = f"lat-{tag}-{i}@example.com"
            body = trigger_body(str(i + 1), "Open", opened, email)
            sent[email] = time.time()
            async with session.post(url, data=body, headers=zendesk_headers(body)) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"webhook answered {resp.status}")

        tasks = []
        start = time.perf_counter()
        for i in range(total):
            target = start + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return sent


def latency(
    broker: EmbeddedBroker, rates: tuple[float, ...] = (500, 2000), seconds: float = 10
) -> list[Row]:
    rows: list[Row] = []
    with serve_in_thread(FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)) as cio:
        env = {**worker_env(cio.track_url), "SUPPORTSYNC_CUSTOMERIO_RATE_PER_S": "100000"}
        with WorkerProcess(broker.bootstrap_servers, env=env) as worker:
            worker.wait_healthy(timeout=90)
            for rate in rates:
                tag = uuid.uuid4().hex[:6]
                url = worker.url("/webhooks/zendesk")
                sent = asyncio.run(_steady_load(url, rate, seconds, tag))
                deadline = time.monotonic() + 120
                received: dict[str, float] = {}
                while len(received) < len(sent) and time.monotonic() < deadline:
                    for r in list(cio.requests):
                        if r.method == "PUT" and f"lat-{tag}-" in r.path:
                            email = r.path.rsplit("/", 1)[1].replace("%40", "@")
                            received.setdefault(email, r.wall_time)
                    time.sleep(0.2)
                lat = sorted(received[e] - sent[e] for e in received if e in sent)
                if not lat:
                    rows.append((f"(c) latency @ {rate:.0f}/s", "no deliveries", ""))
                    continue
                p50 = statistics.median(lat)
                p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
                rows.append((
                    f"(c) webhook → Customer.io identify @ {rate:.0f}/s",
                    f"p50 {p50 * 1000:.0f} ms / p99 {p99 * 1000:.0f} ms",
                    f"{len(lat):,}/{len(sent):,} delivered, {seconds:.0f} s load; target p99 ≤ 1 s",
                ))
            cio.requests.clear()
    return rows
