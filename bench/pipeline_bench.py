"""Pipeline benchmark (issue 2 §6), all on one embedded broker in one run.

(a) bare aiokafka: consume the raw records, decode every envelope, produce one record per
    event — what a per-event stage costs without Faust;
(b) supportsync: the same raw records through the worker (normalize → identity → state →
    routing) until every expected action is on out.customerio; ratio b/a in events/s;
(c) two workers of one group vs one (`scale_out`);
(d) worker start-up to /healthz 200.
Webhook → suppression latency under a rate-limited Customer.io is in bench/delivery_bench.py.

Every customer gets exactly two events (ticket opened, then solved) so the expected action
count is known: identify + zendesk_ticket_created, identify + support_ticket_resolved.
Windows stay short (≤ ~40k records) because Tansu degrades under sustained small-batch
load past ~140k records (STACK-NOTES); production uses Apache Kafka.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.ingress.batcher import RawBatcher
from app.testing import WorkerProcess
from bench import ROUTE_EVERYWHERE
from contracts.records import RawEnvelope, decode_raw_batch
from streams.runtime.broker import EmbeddedBroker, ensure_topics
from tests.integration.support import trigger_body

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
        # No record interval: the fill measures the pipeline, not the ingress throttle.
        batcher = RawBatcher(producer, lambda _s: topic, PARTITIONS, linger_s=0.003,
                             min_interval_s=0.0)
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


def _worker_rate(
    bootstrap: str, events: list[tuple[str, bytes]], workers: int
) -> tuple[float, float]:
    """(events/s of `workers` workers of one group from raw.zendesk to out.customerio,
    seconds from the first worker's start to ready)."""
    tag = uuid.uuid4().hex[:6]
    prefix = f"bench{tag}."
    # No sink runs, but every destination has (placeholder) credentials, so routing makes
    # the actions for all of them as a production worker would.
    env = {"SUPPORTSYNC_SINKS": "", "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": "bench",
           **ROUTE_EVERYWHERE}
    procs = [WorkerProcess(bootstrap, env=env, prefix=prefix, app_id=f"bench-{tag}")
             for _ in range(workers)]
    try:
        for proc in procs:
            proc.start()
        ready = max(proc.wait_healthy(timeout=90) for proc in procs)
        # Every worker healthy at once: the group has settled (no rebalance under way).
        deadline = time.monotonic() + 90
        while not all(p.health() == 200 for p in procs) and time.monotonic() < deadline:
            time.sleep(0.2)
        started = time.perf_counter()
        asyncio.run(_fill_raw(bootstrap, f"{prefix}raw.zendesk", events))
        expected = 2 * len(events)
        asyncio.run(_count_actions(bootstrap, f"{prefix}out.customerio", expected, limit_s=600))
        return len(events) / (time.perf_counter() - started), ready
    finally:
        for proc in procs:
            proc.stop()
            proc.remove_data_dir()


def throughput(broker: EmbeddedBroker, customers: int = 15_000) -> list[Row]:
    """(a), (b), (d). 30,000 events: the worker's start of fetching and its last commit cost
    about a second whatever the window, so a shorter one mostly measures those."""
    tag = uuid.uuid4().hex[:6]
    events = _events(customers, tag)
    bootstrap = broker.bootstrap_servers
    bare_src, bare_dst = f"bench{tag}.bare-in", f"bench{tag}.bare-out"
    asyncio.run(ensure_topics(bootstrap, [bare_src, bare_dst], PARTITIONS))
    asyncio.run(_fill_raw(bootstrap, bare_src, events))
    bare_rate = asyncio.run(_bare_passthrough(bootstrap, bare_src, bare_dst, len(events)))
    pipeline_rate, ready = _worker_rate(bootstrap, events, 1)
    return [
        ("(a) bare aiokafka consume→decode→produce", f"{bare_rate:,.0f} events/s",
         f"{len(events):,} events, one output record per event; before: 22,279/s"),
        ("(b) supportsync raw → out.customerio", f"{pipeline_rate:,.0f} events/s",
         f"{2 * len(events):,} actions; includes producing the raw records; before: 668/s"),
        ("ratio b/a", f"{pipeline_rate / bare_rate:.2f}",
         "target ≥ 0.25 (long goal 0.5); before: 0.03"),
        ("(d) worker start-up to ready", f"{ready:.1f} s",
         "target ≤ 5 s (process start → /healthz 200)"),
    ]


def scale_out(broker: EmbeddedBroker, customers: int = 10_000) -> list[Row]:
    """Two workers of one group vs one, raw → out (each on fresh topics)."""
    events = _events(customers, uuid.uuid4().hex[:6])
    one, _ = _worker_rate(broker.bootstrap_servers, events, 1)
    events = _events(customers, uuid.uuid4().hex[:6])
    two, _ = _worker_rate(broker.bootstrap_servers, events, 2)
    return [
        ("one worker raw → out", f"{one:,.0f} events/s", f"{len(events):,} events"),
        ("two workers raw → out", f"{two:,.0f} events/s", "same group, 4 partitions"),
        ("ratio two / one", f"{two / one:.2f}",
         "target ≥ 1.5; before: not measured; at 035b46c: 0.90"),
    ]
