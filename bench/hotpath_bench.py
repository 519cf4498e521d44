"""CPU per event of the pure path, no broker: `python -m bench.hotpath_bench`.

What one worker pays per event before Kafka or Faust cost anything: a raw batch decoded,
normalized, identity resolved, the `events.by-customer` batch encoded and decoded, the state
machine, the recipes, and the actions and transitions encoded for their topics (one batch
per sink, as the apply agent produces them). States stay decoded in a dict, as the table
writer keeps them; what their bytes cost is the separate "state codec" row.

Two configurations: the default (every recipe enabled, only the Customer.io sink runs) and
"all": every recipe and every destination. Figures are process CPU time (no profiler),
best of three runs, so other load on a shared machine skews them less, with the garbage
collector set as the worker sets it. Each row is printed
next to the figure measured before the hot-path work of issue 14 (`BEFORE`).
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import orjson

from contracts.actions import Action
from contracts.events import EventKind, Identities, SupportEvent, TicketInfo
from contracts.records import (
    RawEnvelope,
    decode_event_batch,
    decode_raw_batch,
    encode_action_batch,
    encode_event_batch,
    encode_raw_batch,
    encode_transition_batch,
)
from streams.recipes.router import RecipeRouter
from streams.recipes.settings import RecipesConfig
from streams.runtime.faust_app import SINKS
from streams.runtime.normalizers import normalize_envelope
from streams.stages import apply_batch, ingest
from streams.state import StateConfig, SupportState, apply

Row = tuple[str, str, str]
T0 = datetime(2024, 5, 1, tzinfo=UTC)
PARTITIONS = 8
BATCH = 100  # envelopes per raw record, events per by-customer record

#: Main at 75cbbcc (before issue 14's hot-path changes) under this module, on the same shared
#: 2-core machine, runs interleaved with the "after" runs (lowest of three).
BEFORE: dict[str, str] = {
    "default": "147",
    "all": "153",
    "encode": "8.4",
    "decode": "17.1",
    "bytes": "498",
}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(ticket: int, status: str, when: datetime, email: str, created: datetime) -> bytes:
    """A Zendesk trigger webhook body (the recommended template, README)."""
    return orjson.dumps(
        {
            "supportsync": "zendesk-trigger/v1",
            "event_id": f"{ticket}:{_iso(when)}:{status}",
            "ticket": {
                "id": str(ticket),
                "status": status,
                "priority": "normal",
                "tags": "web billing",
                "subject": "Cannot log in",
                "channel": "web",
                "assignee": "agent@example.com",
                "group": "Support",
                "created_at": _iso(created),
                "updated_at": _iso(when),
            },
            "requester": {"id": str(900000 + ticket // 10), "email": email},
        }
    )


def workload(customers: int) -> list[RawEnvelope]:
    """Per customer: two tickets opened, one pending then solved, the other solved."""
    steps = [(0, "new"), (1, "new"), (0, "pending"), (0, "solved"), (1, "open"), (1, "solved")]
    envelopes = []
    for step, (which, status) in enumerate(steps):
        for c in range(customers):
            ticket = c * 10 + which
            email = f"person{c}@example.com"
            when = T0 + timedelta(minutes=5 * step + c % 5)
            created = T0 + timedelta(minutes=which)
            envelopes.append(
                RawEnvelope(
                    source="zendesk",
                    body=_body(ticket, status, when, email, created).decode(),
                    headers={},
                    received_at=when.timestamp(),
                    key=f"email:{email}",
                )
            )
    return envelopes


def _router(sinks: tuple[str, ...]) -> RecipeRouter:
    return RecipeRouter(RecipesConfig(), identifier="email", sinks=sinks)


def run_path(
    records: list[bytes], sinks: tuple[str, ...], split: dict[str, float] | None = None
) -> tuple[float, int, int]:
    """CPU seconds for every raw record through the pure path; (seconds, events, actions).
    With `split`, also the seconds of each stage, clocked per batch."""
    router = _router(sinks)
    config = StateConfig()
    links: dict[str, str] = {}
    states: dict[str, SupportState] = {}
    produced: list[bytes] = []
    events = actions = 0
    clock = time.process_time
    stages = split if split is not None else defaultdict(float)
    start = clock()
    for record in records:
        t0 = clock()
        result = ingest(
            decode_raw_batch(record), normalize=normalize_envelope, lookup=links.get,
            link=links.__setitem__, partitions=PARTITIONS,
        )
        stages["ingest"] += clock() - t0
        for items in result.by_partition.values():
            for i in range(0, len(items), BATCH):
                t0 = clock()
                decoded = decode_event_batch(encode_event_batch(items[i : i + BATCH]))
                t1 = clock()
                applied = apply_batch(
                    decoded, get_state=states.get, put_state=states.__setitem__,
                    config=config, router=router,
                )
                router.tally.drain()
                t2 = clock()
                events += len(decoded)
                if applied.transitions:
                    produced.append(encode_transition_batch(applied.transitions))
                by_sink: dict[str, list[Action]] = defaultdict(list)
                for action in applied.actions:
                    by_sink[action.sink].append(action)
                for batch in by_sink.values():
                    produced.append(encode_action_batch(batch))
                actions += len(applied.actions)
                stages["codec"] += t1 - t0
                stages["apply"] += t2 - t1
                stages["encode"] += clock() - t2
    return clock() - start, events, actions


def _split(records: list[bytes], rounds: int) -> list[Row]:
    """Where the default config's time goes; recipes = apply with them − apply without."""
    best: dict[str, float] = {}
    for sinks, prefix in ((("customerio",), ""), ((), "bare ")):
        for _ in range(rounds):
            stages: dict[str, float] = defaultdict(float)
            _, events, _ = run_path(records, sinks, stages)
            for name, seconds in stages.items():
                best[prefix + name] = min(best.get(prefix + name, seconds), seconds)
    per = {name: seconds / events * 1e6 for name, seconds in best.items()}
    return [
        ("  ingest µs/event", f"{per['ingest']:.1f}", "raw batch decode, normalize, identity"),
        ("  by-customer codec µs/event", f"{per['codec']:.1f}", "encode + decode once"),
        ("  state machine µs/event", f"{per['bare apply']:.1f}",
         "apply_batch with no destination (transitions, deadlines)"),
        ("  recipes µs/event", f"{max(0.0, per['apply'] - per['bare apply']):.1f}",
         "default config: R1/R2 actions for Customer.io"),
        ("  topic encoding µs/event", f"{per['encode']:.1f}", "transitions + out.<sink>"),
    ]


@contextmanager
def worker_gc() -> Iterator[None]:
    """The garbage collector as a worker runs it (app/runtime.py, WebService.on_start):
    start-up objects frozen, young objects collected every 50,000 allocations."""
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def bench_path(customers: int = 1_000, rounds: int = 3) -> list[Row]:
    with worker_gc():
        return _bench_path(customers, rounds)


def _bench_path(customers: int, rounds: int) -> list[Row]:
    envelopes = workload(customers)
    records = [encode_raw_batch(envelopes[i : i + BATCH]) for i in range(0, len(envelopes), BATCH)]
    rows: list[Row] = []
    for name, sinks, label in (
        ("default", ("customerio",), "default config (Customer.io sink only)"),
        ("all", tuple(SINKS), "every recipe and destination"),
    ):
        best, events, actions = min(run_path(records, sinks) for _ in range(rounds))
        rows.append(
            (
                f"pure path µs/event, {name}",
                f"{best / events * 1e6:.1f}",
                f"before {BEFORE[name]}; {label}; {events:,} Zendesk ticket events, "
                f"{actions / events:.2f} actions/event; target ≤ 60",
            )
        )
        if name == "default":
            rows += _split(records, rounds)
    return rows


def _two_open_tickets() -> SupportState:
    state: SupportState | None = None
    for n, ticket in enumerate((101, 102)):
        event = SupportEvent(
            event_id=f"zd-{n}",
            source="zendesk",
            kind=EventKind.TICKET_OPENED,
            occurred_at=T0,
            received_at=T0,
            identities=Identities(email="person@example.com", zendesk_user_id=9001),
            ticket=TicketInfo(
                id=str(ticket), status="new", priority="normal", reason="billing",
                tags=("web", "billing"), subject="Cannot log in", channel="web",
                created_at=T0, updated_at=T0,
            ),
        )
        state, _ = apply(state, event, "c:bench", StateConfig())
    assert state is not None
    return state


def bench_state_codec(repeat: int = 20_000) -> list[Row]:
    state = _two_open_tickets()
    data = state.to_bytes()
    assert SupportState.from_bytes(data) == state
    timings: dict[str, float] = {}
    calls: dict[str, Callable[[], object]] = {
        "encode": state.to_bytes,
        "decode": lambda: SupportState.from_bytes(data),
    }
    for name, call in calls.items():
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for _ in range(repeat):
                call()
            best = min(best, time.process_time() - start)
        timings[name] = best / repeat * 1e6
    return [
        ("state encode µs", f"{timings['encode']:.1f}", f"before {BEFORE['encode']}; "
         "customer with two open tickets"),
        ("state decode µs", f"{timings['decode']:.1f}", f"before {BEFORE['decode']}"),
        ("state bytes/customer", f"{len(data):,}", f"before {BEFORE['bytes']}; "
         "two open tickets; ≤ 2 KB"),
    ]


def run() -> list[Row]:
    return [*bench_path(), *bench_state_codec()]


def main() -> None:
    rows = run()
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for metric, value, note in rows:
        print(f"{metric:<{widths[0]}}  {value:>{widths[1]}}  {note}")


if __name__ == "__main__":
    main()
