"""Micro-benchmarks of the pure state machine (no broker): `python -m bench.state_bench`.

Measures apply() throughput in isolation, serialised bytes per customer, and the cost of
a DueIndex sweep over 1,000,000 scheduled customers of whom 1 % are due. Runs in ~20 s.
Throughput uses process CPU time, so other load on a shared machine does not skew it.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from contracts.events import EventKind, Identities, SupportEvent, TicketInfo
from streams.state import DueIndex, StateConfig, SupportState, apply

T0 = datetime(2024, 5, 1, tzinfo=UTC)
CONFIG = StateConfig()
Row = tuple[str, str, str]


def _ticket_event(n: int, ticket: int, status: str, when: datetime) -> SupportEvent:
    kind = EventKind.TICKET_OPENED if status == "new" else EventKind.TICKET_STATUS_CHANGED
    return SupportEvent(
        event_id=f"zd-{n}",
        source="zendesk",
        kind=kind,
        occurred_at=when,
        received_at=when,
        identities=Identities(email=f"person{ticket % 1000}@example.com", zendesk_user_id=ticket),
        ticket=TicketInfo(
            id=str(ticket),
            status=status,
            priority="normal",
            reason="billing",
            tags=("web", "billing"),
            created_at=when,
            updated_at=when,
        ),
    )


def _workload(customers: int, events: int) -> list[tuple[str, SupportEvent]]:
    """Per customer: open a ticket, move it through pending, solve it, repeat."""
    lifecycle = ["new", "open", "pending", "solved"]
    work = []
    for n in range(events):
        customer = n % customers
        round_ = n // customers
        ticket = customer * 100 + round_ // len(lifecycle)
        when = T0 + timedelta(minutes=round_)
        work.append((f"c:{customer}", _ticket_event(n, ticket, lifecycle[round_ % 4], when)))
    return work


def bench_apply(customers: int = 2_000, events: int = 30_000) -> list[Row]:
    work = _workload(customers, events)
    states: dict[str, SupportState | None] = {}
    transitions = 0
    start = time.process_time()
    for key, event in work:
        state, emitted = apply(states.get(key), event, key, CONFIG)
        states[key] = state
        transitions += len(emitted)
    elapsed = time.process_time() - start
    # With the codec, as the agent pays it: load bytes, apply, store bytes.
    stored = {k: s.to_bytes() for k, s in states.items() if s is not None}
    tail = _workload(customers, events + 10_000)[events:]
    start = time.process_time()
    for key, event in tail:
        state, _ = apply(SupportState.from_bytes(stored[key]), event, key, CONFIG)
        stored[key] = state.to_bytes()
    codec_elapsed = time.process_time() - start
    return [
        (
            "apply events/s",
            f"{events / elapsed:,.0f}",
            f"{events:,} ticket events, {customers:,} customers (CPU time)",
        ),
        (
            "apply µs/event",
            f"{elapsed / events * 1e6:.1f}",
            f"{transitions / events:.2f} transitions/event",
        ),
        (
            "apply+codec events/s",
            f"{len(tail) / codec_elapsed:,.0f}",
            "from_bytes + apply + to_bytes per event",
        ),
    ]


def _state_with(open_tickets: int, history: int) -> SupportState:
    state: SupportState | None = None
    n = 0
    for ticket in range(open_tickets):
        state, _ = apply(state, _ticket_event(n, ticket, "new", T0), "c:bench", CONFIG)
        n += 1
    for i in range(history):
        track = SupportEvent(
            event_id=f"cio-{i:020d}",
            source="customerio",
            kind=EventKind.EMAIL_ENGAGEMENT,
            occurred_at=T0,
            received_at=T0,
        )
        state, _ = apply(state, track, "c:bench", CONFIG)
    return state if state is not None else SupportState(customer_key="c:bench")


def bench_sizes() -> list[Row]:
    rows: list[Row] = []
    for tickets in (0, 2, 10):
        fresh = len(_state_with(tickets, history=0).to_bytes())
        full = len(_state_with(tickets, history=CONFIG.processed_ids_max).to_bytes())
        rows.append(
            (
                f"state bytes, {tickets} open tickets",
                f"{fresh:,} / {full:,}",
                f"fresh / with a full window of {CONFIG.processed_ids_max} processed ids",
            )
        )
    return rows


def bench_due_index(customers: int = 1_000_000, due_share: float = 0.01) -> list[Row]:
    rng = random.Random(7)
    now = T0
    due_count = int(customers * due_share)
    index = DueIndex()
    start = time.perf_counter()
    for i in range(customers):
        if i < due_count:
            due = now - timedelta(seconds=rng.randrange(1, 3600))
        else:
            due = now + timedelta(seconds=rng.randrange(1, 30 * 86400))
        index.schedule(f"c:{i}", due)
    build = time.perf_counter() - start
    start = time.perf_counter()
    popped = index.pop_due(now)
    sweep = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(1_000):
        empty = index.pop_due(now)
    idle = (time.perf_counter() - start) / 1_000
    start = time.perf_counter()
    for i in range(due_count, due_count + 10_000):
        index.schedule(f"c:{i}", now + timedelta(days=40, seconds=i))
    reschedule = (time.perf_counter() - start) / 10_000
    assert len(popped) == due_count and empty == []
    return [
        ("DueIndex build", f"{build:.2f} s", f"{customers:,} schedule() calls"),
        (
            "DueIndex sweep",
            f"{sweep * 1e3:.1f} ms",
            f"pop_due() returning {len(popped):,} due keys",
        ),
        ("DueIndex sweep per due key", f"{sweep / len(popped) * 1e6:.2f} µs", "O(log n) each"),
        ("DueIndex idle sweep", f"{idle * 1e6:.2f} µs", "nothing due: no scan of customers"),
        ("DueIndex reschedule", f"{reschedule * 1e6:.2f} µs", "replace a deadline (lazy deletion)"),
    ]


def run() -> list[Row]:
    return [*bench_apply(), *bench_sizes(), *bench_due_index()]


def main() -> None:
    rows = run()
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for metric, value, note in rows:
        print(f"{metric:<{widths[0]}}  {value:>{widths[1]}}  {note}")


if __name__ == "__main__":
    main()
