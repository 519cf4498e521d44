"""A seeded support history for many customers, and how to run and compare outcomes.

Every customer: a Zendesk user event (links user id and email), one or two tickets opened,
updates (one delivered twice), the second ticket merged into the first or solved, a CSAT
rating, sometimes a Customer.io unsubscribe, and finally the first ticket solved. Raw
envelopes are written straight to the raw topics with the ingress' own batcher (the webhook
path has its own tests), keyed by the customer's email, so each customer's Zendesk history
is ordered on one partition.
"""

from __future__ import annotations

import asyncio
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from app.ingress.batcher import RawBatcher
from connectors.testing.fakes import FakeCustomerIO
from contracts.records import RawEnvelope
from tests.integration.support import iso, trigger_body


@dataclass
class Scenario:
    seed: int
    customers: int
    envelopes: list[RawEnvelope] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    #: the ticket whose "Closed" is each customer's last Zendesk event
    last_ticket: dict[str, str] = field(default_factory=dict)
    unsubscribed: set[str] = field(default_factory=set)


def _zendesk_event(type_: str, event_id: str, at: datetime, detail: dict[str, Any],
                   event: dict[str, Any] | None = None) -> bytes:
    doc: dict[str, Any] = {"type": f"zen:event-type:{type_}", "id": event_id, "time": iso(at),
                           "detail": detail}
    if event is not None:
        doc["event"] = event
    return orjson.dumps(doc)


def build(seed: int, customers: int = 2000) -> Scenario:
    rng = random.Random(seed)
    scenario = Scenario(seed=seed, customers=customers)
    base = datetime.now(UTC) - timedelta(hours=6)
    steps: list[list[tuple[str, str, bytes]]] = [[] for _ in range(12)]
    for i in range(customers):
        email = f"chaos-{seed}-{i}@example.com"
        scenario.emails.append(email)
        user_id = str(100_000 + i)
        a, b = str(2 * i + 1), str(2 * i + 2)
        scenario.last_ticket[email] = a
        t = [base + timedelta(minutes=m) for m in range(0, 240, 20)]
        prio = rng.choice(["normal", "high", "urgent", "low"])
        two = rng.random() < 0.6
        zd: list[tuple[int, bytes]] = [
            (0, _zendesk_event("user.created", f"u-{seed}-{i}", t[0],
                               {"id": user_id, "email": email, "role": "end-user"})),
            (1, trigger_body(a, "New", t[1], email, priority=prio, tags="billing")),
            (3, trigger_body(a, "Open", t[3], email, priority=prio, tags="billing refund")),
            (4, trigger_body(a, "Pending", t[4], email, priority=prio)),
            (5, trigger_body(a, "Pending", t[5], email, priority=prio, tags="billing vip")),
            (8, trigger_body(a, "Open", t[7], email, priority=prio, tags="billing vip")),
        ]
        if rng.random() < 0.3:
            zd.append((5, trigger_body(a, "Pending", t[4], email, priority=prio)))  # duplicate
        if two:
            zd.append((2, trigger_body(b, "Open", t[2], email, priority="normal")))
            zd.append((6, trigger_body(b, "Pending", t[5], email)))
            if rng.random() < 0.4:
                zd.append((7, _zendesk_event(
                    "ticket.merged", f"m-{seed}-{i}", t[6],
                    {"id": b, "requester_id": user_id, "updated_at": iso(t[6])},
                    {"target_ticket_id": a})))
            else:
                zd.append((7, trigger_body(b, "Solved", t[6], email)))
        score = "bad" if rng.random() < 0.3 else "good"
        solved = orjson.loads(trigger_body(a, "Solved", t[8], email, priority=prio))
        solved["satisfaction"] = {"score": score}
        zd.append((9, orjson.dumps(solved)))
        zd.append((10, trigger_body(a, "Closed", t[9], email, priority=prio)))
        for step, body in zd:
            steps[step].append(("zendesk", email, body))
        if rng.random() < 0.15:
            unsub = orjson.dumps({
                "event_id": f"cio-{seed}-{i}", "object_type": "email", "metric": "unsubscribed",
                "timestamp": int(t[7].timestamp()),
                "data": {"identifiers": {"email": email, "id": f"cust-{i}"},
                         "customer_id": f"cust-{i}", "email_address": email},
            })
            steps[8].append(("customerio", email, unsub))
            scenario.unsubscribed.add(email)
    now = time.time()
    for step in steps:
        for source, email, body in step:
            scenario.envelopes.append(RawEnvelope(
                source=source,  # type: ignore[arg-type]
                body=body.decode(), received_at=now, key=f"email:{email}",
            ))
    return scenario


async def produce(bootstrap: str, prefix: str, envelopes: list[RawEnvelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        batcher = RawBatcher(producer, lambda source: f"{prefix}raw.{source}", 4, linger_s=0.003)
        for start in range(0, len(envelopes), 500):
            await asyncio.gather(*(batcher.submit(e) for e in envelopes[start:start + 500]))
        await batcher.flush_all()
    finally:
        await producer.stop()


def essence(doc: dict[str, Any]) -> dict[str, Any]:
    """What must be identical between runs (not seq or transition order, which depend on how
    the Zendesk and Customer.io partitions interleave)."""
    state = doc.get("state", doc)
    return {
        "support_state": state["support_state"],
        "tickets": sorted(
            (t["id"], t.get("status"), t.get("merged_into")) for t in state["tickets"]
        ),
        "consent": state["consent"],
        "csat": (state["csat"] or {}).get("score"),
        "attributes": state["attributes"],
    }


@dataclass
class Deliveries:
    #: events as Customer.io keeps them (it drops a repeated event id)
    one_offs: Counter[tuple[str, str, str]]
    #: event requests as sent (a repeat with the same id is harmless, but counted)
    event_requests: int
    attributes: dict[str, dict[str, Any]]
    #: every attribute write per person, in arrival order: (wall time, attributes)
    writes: dict[str, list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)


def deliveries(cio: FakeCustomerIO) -> Deliveries:
    one_offs: Counter[tuple[str, str, str]] = Counter()
    for person, record in list(cio.people.items()):
        for ev in record.events:
            one_offs[(person, str(ev["name"]), str(ev["data"].get("ticket_id")))] += 1
    sent = sum(1 for r in list(cio.requests) if r.method == "POST" and r.path.endswith("/events"))
    people = list(cio.people.items())
    attributes = {k: dict(p.attributes) for k, p in people}
    writes = {k: list(p.writes) for k, p in people}
    return Deliveries(one_offs=one_offs, event_requests=sent, attributes=attributes,
                      writes=writes)


def attribute_difference(expected: Deliveries, got: Deliveries) -> str | None:
    """None when every person's final attributes agree; else which differ, and how the first
    one's attributes were written in both runs (wall times)."""
    people = sorted(set(expected.attributes) | set(got.attributes))
    differing = [p for p in people if expected.attributes.get(p) != got.attributes.get(p)]
    if not differing:
        return None
    lines = [f"{len(differing)} people's attributes differ"]
    for person in differing[:3]:
        want, have = expected.attributes.get(person, {}), got.attributes.get(person, {})
        fields = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        lines.append(f"{person}: " + "; ".join(
            f"{k}: expected {want.get(k, '<unset>')!r}, got {have.get(k, '<unset>')!r}"
            for k in fields))
    first = differing[0]
    for label, run in (("expected", expected), ("got", got)):
        lines.append(f"{label} writes to {first}:")
        for at, written in run.writes.get(first, []):
            lines.append(f"  {at:.3f} {written}")
    return "\n".join(lines)


#: the last explain documents fetched per customer (for failure messages)
RAW_DOCS: dict[str, dict[str, Any]] = {}


def settled(history: Scenario, email: str, doc: dict[str, Any] | None) -> bool:
    """The customer's last events are in the state: ticket A closed, unsubscribe seen."""
    if doc is None:
        return False
    state = essence(doc)
    closed = (history.last_ticket[email], "closed", None) in state["tickets"]
    return closed and (email not in history.unsubscribed or state["consent"]["unsubscribed"])


def wait_settled(
    history: Scenario, fetch: Callable[[str], dict[str, Any] | None], limit_s: float = 300.0
) -> dict[str, dict[str, Any]]:
    """Poll every customer's state until each has seen its last events; returns essences."""
    deadline = time.monotonic() + limit_s
    pending = list(history.emails)
    final: dict[str, dict[str, Any]] = {}
    while pending:
        still = []
        for email in pending:
            doc = fetch(email)
            if doc is not None and settled(history, email, doc):
                final[email] = essence(doc)
                RAW_DOCS[email] = doc
            else:
                still.append(email)
        pending = still
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} customers never settled, e.g. {pending[:3]}")
        if pending:
            time.sleep(1.0)
    return final


def wait_quiet(cio: FakeCustomerIO, quiet_s: float = 8.0, limit_s: float = 300.0) -> None:
    """Until the fake saw no request for `quiet_s` (the backlog drained)."""
    deadline = time.monotonic() + limit_s
    last, since = len(cio.requests), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = len(cio.requests)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
    raise AssertionError(f"sink traffic did not settle within {limit_s}s")


def metric_lines(port: int, prefixes: tuple[str, ...]) -> list[str]:
    """The samples of a worker's /metrics whose names start with one of `prefixes`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return [line for line in text.splitlines() if line.startswith(prefixes)]


def metric(port: int, name: str) -> float:
    """Sum of a metric's samples on a worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def describe_difference(
    differing: list[str], expected: dict[str, Any], got: dict[str, Any]
) -> str:
    first = differing[0]
    fields = sorted(k for k in expected[first] if expected[first][k] != got[first].get(k))
    detail = "; ".join(f"{k}: {expected[first][k]!r} != {got[first].get(k)!r}" for k in fields)
    return f"{len(differing)} customers differ; first {first}: {detail}"
