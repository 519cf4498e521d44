"""Sink benchmarks against the loopback FakeCustomerIO (SPEC S6, S10).

1. API calls per 1,000 bursty attribute updates (100 people x 10 updates, interleaved,
   within the 1 s coalescing window, in one consumer batch): one call per update, with
   coalescing (v1), and with coalescing plus v2 batches.
2. Delivered actions/s against a fake that allows L requests/s, as a fraction of L
   (one-off events: one request each; target >= 0.9 without a single 429).

`python -m bench.sinks_bench`; about 10 s, loopback only.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp

from app.sinks import window_bucket
from connectors.customerio.sink import CustomerIOSink
from connectors.delivery.coalesce import AttributeCoalescer
from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.http import HttpClient
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.ratelimit import TokenBucket
from connectors.testing.fakes import FakeCustomerIO, RateLimit
from contracts.actions import Action

Row = tuple[str, str, str]
T0 = datetime(2024, 5, 1, tzinfo=UTC)


class _NoBatchSink(CustomerIOSink):
    min_batch: ClassVar[int] = 10**9


def _sink(
    fake: FakeCustomerIO,
    session: aiohttp.ClientSession,
    bucket: TokenBucket,
    *,
    batch: bool = True,
    window: float = 1.0,
    concurrency: int = 8,
) -> CustomerIOSink:
    cls = CustomerIOSink if batch else _NoBatchSink
    client = HttpClient(session, base_url=fake.track_url, bucket=bucket,
                        auth=(fake.site_id, fake.api_key))
    return cls(
        client=client, bucket=bucket, store=InMemoryDeliveredStore(),
        dead_letters=InMemoryDeadLetterWriter(), coalescer=AttributeCoalescer(window),
        concurrency=concurrency,
    )


def _updates(people: int = 100, per_person: int = 10) -> list[Action]:
    actions = []
    for round_ in range(per_person):
        for p in range(people):
            n = round_ * people + p
            actions.append(Action.for_transition(
                f"b{n}", sink="customerio", operation="identify", customer_key=f"ck{p}",
                person=f"person-{p}", payload={"attributes": {"open_ticket_count": round_}},
                created_at=T0 + timedelta(milliseconds=n),
            ))
    return actions


async def _calls(batch: bool, window: float) -> tuple[int, bool]:
    async with FakeCustomerIO(check_on_exit=True) as fake, aiohttp.ClientSession() as session:
        sink = _sink(fake, session, TokenBucket(10_000, 10_000), batch=batch, window=window)
        actions = _updates()
        # a burst: one consumer batch holding the 1,000 interleaved updates
        await sink.deliver(actions)
        final_ok = all(
            fake.people[f"person-{p}"].attributes == {"open_ticket_count": 9} for p in range(100)
        )
        return len(fake.requests), final_ok


async def _throughput(limit: int, count: int) -> dict[str, Any]:
    async with FakeCustomerIO(rate_limit=RateLimit(limit, 1.0)) as fake, \
            aiohttp.ClientSession() as session:
        # One request per event (v1): what the token bucket paces, not the batch endpoint.
        sink = _sink(fake, session, window_bucket("customerio", limit, 1.0), batch=False)
        actions = [
            Action.for_transition(
                f"e{i}", sink="customerio", operation="event", customer_key=f"ck{i}",
                person=f"person-{i % 500}", payload={"name": "bench", "data": {"i": i}},
                one_off=True,
            )
            for i in range(count)
        ]
        started = time.perf_counter()
        delivered = 0
        for start in range(0, count, 200):
            report = await sink.deliver(actions[start : start + 200])
            delivered += report.delivered
        elapsed = time.perf_counter() - started
        throttled = sum(1 for r in fake.requests if r.status == 429)
        return {"rate": delivered / elapsed, "max": fake.max_rate(1.0), "429": throttled,
                "elapsed": elapsed}


async def _run() -> list[Row]:
    per_update, ok0 = await _calls(batch=False, window=-1.0)
    coalesced, ok1 = await _calls(batch=False, window=1.0)
    batched, ok2 = await _calls(batch=True, window=1.0)
    limit = 100
    tp = await _throughput(limit, 800)
    ok = "final values right" if ok0 and ok1 and ok2 else "FINAL VALUES WRONG"
    return [
        ("calls / 1,000 attribute updates: one per update", str(per_update), "baseline"),
        ("calls / 1,000 attribute updates: coalesced (v1)", str(coalesced),
         f"{per_update / max(coalesced, 1):.0f}x fewer; {ok}"),
        ("calls / 1,000 attribute updates: coalesced + v2 batch", str(batched),
         f"{per_update / max(batched, 1):.0f}x fewer"),
        (f"v1 events delivered/s at a {limit}/s limit", f"{tp['rate']:.1f}",
         f"{tp['rate'] / limit:.2f} of the limit (target >= 0.9); 800 events in "
         f"{tp['elapsed']:.1f}s"),
        ("max requests in any 1 s window at the fake", str(tp["max"]),
         f"limit {limit}; 429 answers: {tp['429']}"),
    ]


def run() -> list[Row]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for name, value, note in run():
        print(f"{name:<58} {value:>8}  {note}")
