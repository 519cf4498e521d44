"""The two stream stages as plain functions over batches (the Faust agents only call these).

ingest: raw envelopes → normalized events → customer key (identity) → grouped by the
        partition of the customer key, ready for `events.by-customer`. An organization's
        events name no person: they are keyed by the organization (`organization_key`).
apply:  (customer key, event) items → state machine → transitions → routing → actions;
        organization events hold no state and go straight to routing.

Table access is injected (`lookup`/`link`, `get_state`/`put_state`) so these run without a
broker in unit tests and are driven by Faust tables in the worker.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import orjson

from contracts.actions import PRIORITY_RANK, Action
from contracts.deadletters import StageDeadLetter
from contracts.events import EventKind, SupportEvent
from contracts.partitioner import partition_for
from contracts.records import (
    RawEnvelope,
    RoutedEvent,
    encode_reroute,
    envelope_record,
    event_from_dict,
    raw_batch_items,
    raw_envelope_from,
)
from streams import identity, parking
from streams.ownwrites import OwnWriters
from streams.routing import Router
from streams.state.config import StateConfig
from streams.state.machine import (
    InvalidEvent,
    StateAbsorbed,
    apply,
    expire,
    new_state,
    next_deadline,
)
from streams.state.model import SupportState
from streams.state.transitions import Transition

log = logging.getLogger(__name__)



@dataclass
class IngestResult:
    by_partition: dict[int, list[RoutedEvent]] = field(default_factory=dict)
    dead_letters: list[StageDeadLetter] = field(default_factory=list)
    unhandled: Counter[str] = field(default_factory=Counter)
    #: our own writes come back, dropped (`streams.ownwrites`): by (source, kind)
    own_writes: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: identity merges to carry out: (absorbed key, survivor key, causing event)
    merges: list[tuple[str, str, SupportEvent]] = field(default_factory=list)
    #: events of people erased after they happened, dropped (streams/erasure.py)
    erased: int = 0


#: What a normalizer raises for a body without the shape its source promises (times out of
#: range are ValueErrors too); anything else is a bug, dead-lettered all the same.
_MALFORMED = (ValueError, KeyError, TypeError, AttributeError)


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:500]}"


def decode_raw_record(value: bytes) -> tuple[list[RawEnvelope], list[StageDeadLetter]]:
    """The envelopes of one raw record; an envelope (or a record) that does not decode is a
    dead letter, and the others are still processed."""
    try:
        docs = raw_batch_items(value)
    except Exception as exc:  # noqa: BLE001 - not a raw batch at all: kept for inspection
        return [], [_undecodable("raw", exc, {"value": value.decode("utf-8", "replace")})]
    envelopes: list[RawEnvelope] = []
    letters: list[StageDeadLetter] = []
    for doc in docs:
        try:
            envelopes.append(raw_envelope_from(doc))
        except Exception as exc:  # noqa: BLE001 - one item never costs the others
            letters.append(_undecodable("raw", exc, {"envelope": repr(doc)[:4000]}))
    return envelopes, letters


def decode_event_record(value: bytes) -> tuple[list[RoutedEvent], list[StageDeadLetter]]:
    """The items of one events.by-customer record, each decoded on its own (see above)."""
    try:
        docs = orjson.loads(value)["items"]
    except Exception as exc:  # noqa: BLE001 - not a batch at all: kept for inspection
        return [], [_undecodable("events", exc, {"value": value.decode("utf-8", "replace")})]
    items: list[RoutedEvent] = []
    letters: list[StageDeadLetter] = []
    for doc in docs:
        try:
            items.append((doc["k"], event_from_dict(doc["e"]), float(doc["t"])))
        except Exception as exc:  # noqa: BLE001 - one item never costs the others
            letters.append(_undecodable("events", exc, {"item": repr(doc)[:4000]}))
    return items, letters


T = TypeVar("T")


def encode_fitting(
    items: list[T], encode: Callable[[list[T]], bytes], limit: int
) -> tuple[list[tuple[list[T], bytes]], list[T]]:
    """`items` encoded as records of at most `limit` bytes (a batch too large is halved until
    it fits), and the items too large for a record even alone."""
    encoded = encode(items)
    if len(encoded) <= limit:
        return [(items, encoded)], []
    if len(items) == 1:
        return [], items
    middle = len(items) // 2
    first, first_big = encode_fitting(items[:middle], encode, limit)
    second, second_big = encode_fitting(items[middle:], encode, limit)
    return first + second, first_big + second_big


def _undecodable(topic: str, exc: Exception, record: dict[str, Any]) -> StageDeadLetter:
    return StageDeadLetter(
        stage="decode", reason="undecodable_record", source=topic, detail=_failure(exc),
        record=record,
    )


Normalize = Callable[[RawEnvelope], list[SupportEvent]]


def ingest(
    envelopes: list[RawEnvelope],
    *,
    normalize: Normalize,
    lookup: Callable[[str], str | None],
    link: Callable[[str, str], None],
    partitions: int,
    own_writers: OwnWriters | None = None,
    denied: Callable[[SupportEvent], bool] | None = None,
) -> IngestResult:
    """Normalize and resolve every envelope. Whatever one envelope raises ends in a dead letter
    for that envelope alone (SPEC S10: one bad body never costs the others in its record).
    `denied` (the deny list of erased people) drops an event before it links anything."""
    result = IngestResult()
    for envelope in envelopes:
        try:
            events = normalize(envelope)
        except Exception as exc:  # noqa: BLE001 - one item never costs the others
            malformed = isinstance(exc, _MALFORMED)
            if not malformed:
                log.warning("normalizing a %s envelope raised %s", envelope.source,
                            type(exc).__name__)
            result.dead_letters.append(
                StageDeadLetter(
                    stage="normalize",
                    reason="malformed_payload" if malformed else "normalize_failed",
                    source=envelope.source,
                    detail=_failure(exc),
                    record=envelope_record(envelope),
                )
            )
            continue
        if not events:
            result.unhandled[envelope.source] += 1
            continue
        for event in events:
            if denied is not None and denied(event):
                result.erased += 1
                continue
            if event.kind == EventKind.ORGANIZATION_UPDATED:
                _organization(event, envelope, result, own_writers, partitions)
                continue
            try:
                echo = own_writers is not None and own_writers.is_echo(event)
                resolution = identity.resolve(event.identities, lookup)
                key = resolution.customer_key
                partition = partition_for(key, partitions) if not resolution.conflict else 0
            except Exception as exc:  # noqa: BLE001 - one item never costs the others
                result.dead_letters.append(
                    StageDeadLetter(
                        stage="identity",
                        reason="identity_failed",
                        source=envelope.source,
                        detail=_failure(exc),
                        record={"event": event.to_dict()},
                    )
                )
                continue
            if resolution.conflict and echo:
                result.own_writes[(event.source, str(event.kind))] += 1
                continue
            if resolution.conflict:
                result.dead_letters.append(
                    StageDeadLetter(
                        stage="identity",
                        reason="identity_conflict",
                        source=envelope.source,
                        detail=resolution.conflict,
                        # the envelope makes it redrivable (`supportsync dlq redrive`)
                        record={
                            "event": event.to_dict(),
                            "envelope": envelope_record(envelope),
                        },
                    )
                )
                continue
            for identifier, linked in resolution.new_links:
                link(identifier, linked)
            for absorbed, survivor in resolution.merges:
                result.merges.append((absorbed, survivor, event))
            if echo:
                # our own write coming back: the identities it links are still facts worth
                # keeping (a user we created links their Zendesk id to the email), the
                # change itself is not applied again
                result.own_writes[(event.source, str(event.kind))] += 1
                continue
            result.by_partition.setdefault(partition, []).append(
                (key, event, envelope.received_at)
            )
    return result


def organization_key(event: SupportEvent) -> str | None:
    """The key an organization's events travel under: no customer, no identity links."""
    organization = event.attributes.get("organization_id")
    return f"organization:{event.source}:{organization}" if organization else None


def _organization(
    event: SupportEvent,
    envelope: RawEnvelope,
    result: IngestResult,
    own_writers: OwnWriters | None,
    partitions: int,
) -> None:
    if own_writers is not None and own_writers.is_echo(event):
        result.own_writes[(event.source, str(event.kind))] += 1
        return
    key = organization_key(event)
    if key is None:
        result.dead_letters.append(
            StageDeadLetter(
                stage="identity", reason="identity_failed", source=envelope.source,
                detail="organization event without attributes['organization_id']",
                record={"event": event.to_dict()},
            )
        )
        return
    result.by_partition.setdefault(partition_for(key, partitions), []).append(
        (key, event, envelope.received_at)
    )


@dataclass
class ApplyResult:
    transitions: list[Transition] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    dead_letters: list[StageDeadLetter] = field(default_factory=list)
    deadlines: dict[str, datetime | None] = field(default_factory=dict)
    #: events whose key was merged into another: re-sent to the survivor's partition
    forwards: list[RoutedEvent] = field(default_factory=list)
    #: merge_in records to pass further down a merge chain: (survivor key, record)
    forwarded_merges: list[tuple[str, bytes]] = field(default_factory=list)
    duplicates: int = 0
    parking: parking.ParkCounts = field(default_factory=parking.ParkCounts)


def apply_batch(
    items: list[RoutedEvent],
    *,
    get_state: Callable[[str], SupportState | None],
    put_state: Callable[[str, SupportState], None],
    config: StateConfig,
    router: Router,
) -> ApplyResult:
    """Apply every event; an event that raises ends in a dead letter (its state unchanged)
    and the batch's other events proceed."""
    result = ApplyResult()
    addressable = router.addressable
    for key, event, received_at in items:
        if event.kind == EventKind.ORGANIZATION_UPDATED:
            # An organization is no customer: it holds no state, its event is routed as
            # it comes (the sinks skip values equal to what they last wrote).
            _route_all(router, [], new_state(key), received_at, result, event)
            continue
        before = get_state(key)
        # Routed straight into `result`; a failure cuts it back to these marks (an ApplyResult
        # per event to merge afterwards was a measurable share of the per-event cost).
        marks = (len(result.transitions), len(result.actions), len(result.dead_letters),
                 result.parking.released)
        try:
            if parking.should_park(event, before, addressable):
                held = parking.park(before or new_state(key), event, received_at)
                if held is before:
                    result.duplicates += 1  # already parked: a redelivery
                    continue
                if held is not None:
                    put_state(key, held)
                    result.parking.parked += 1
                    continue
                result.parking.overflow += 1  # full: applied at once, as without parking
            after, transitions = apply(before, event, key, config)
            if after is before:  # apply() hands back the very same state when nothing changed
                result.duplicates += 1
                continue
            result.transitions.extend(transitions)
            _route_all(router, transitions, after, received_at, result, event)
            if after.parked and addressable(after.identities):
                after = release_parked(key, after, config=config, router=router, result=result)
            deadline = next_deadline(after, config)
        except StateAbsorbed as absorbed:
            _cut_back(result, marks)
            result.forwards.append((absorbed.survivor, event, received_at))
            continue
        except Exception as exc:  # noqa: BLE001 - one item never costs the others
            _cut_back(result, marks)
            invalid = isinstance(exc, InvalidEvent)
            if not invalid:
                log.warning("applying a %s event raised %s", event.kind, type(exc).__name__)
            result.dead_letters.append(
                StageDeadLetter(
                    stage="apply",
                    reason="invalid_event" if invalid else "apply_failed",
                    source=event.source,
                    detail=str(exc)[:500] if invalid else _failure(exc),
                    record={"customer_key": key, "event": event.to_dict()},
                )
            )
            continue
        # Only a fully processed event changes state: a failure above leaves it untouched.
        put_state(key, after)
        result.deadlines[key] = deadline
    return result


def _cut_back(result: ApplyResult, marks: tuple[int, int, int, int]) -> None:
    """Drop what a failed event added to `result` (its state is not written either)."""
    del result.transitions[marks[0]:], result.actions[marks[1]:]
    del result.dead_letters[marks[2]:]
    result.parking.released = marks[3]


def release_parked(
    key: str, state: SupportState, *, config: StateConfig, router: Router, result: ApplyResult
) -> SupportState:
    """Apply the customer's parked events in order, now that it can be addressed, and
    route their transitions (streams.parking)."""
    current = msgspec.structs.replace(state, parked=())
    for entry in state.parked:
        event, received_at = parking.decode(entry)
        try:
            after, transitions = apply(current, event, key, config)
        except InvalidEvent as exc:
            result.dead_letters.append(
                StageDeadLetter(
                    stage="apply", reason="invalid_event", source=event.source,
                    detail=str(exc)[:500],
                    record={"customer_key": key, "event": event.to_dict()},
                )
            )
            continue
        result.parking.released += 1
        if after is current:
            continue
        current = after
        result.transitions.extend(transitions)
        _route_all(router, transitions, after, received_at, result, event)
    return current


def _route_all(
    router: Router,
    transitions: list[Transition],
    state: SupportState,
    received_at: float | None,
    result: ApplyResult,
    event: SupportEvent | None = None,
) -> None:
    produced: list[Action] = []
    origin = "live" if event is None else event.origin
    for transition in transitions:
        actions, rejected = router.route(transition, state, received_at, origin)
        produced.extend(actions)
        result.dead_letters.extend(rejected)
    if event is not None:  # every applied event, whether or not it changed support state
        actions, rejected = router.route_event(event, state, received_at)
        produced.extend(actions)
        result.dead_letters.extend(rejected)
    # Suppression first: one event's effects may go out in any order, and the promise is
    # that promotions stop within a second (stable sort keeps everything else in order).
    if len(produced) > 1:
        produced.sort(key=_rank)
    result.actions.extend(produced)


def _rank(action: Action) -> int:
    return PRIORITY_RANK[action.priority]


def expire_due(
    keys: list[str],
    now: datetime,
    *,
    get_state: Callable[[str], SupportState | None],
    put_state: Callable[[str, SupportState], None],
    config: StateConfig,
    router: Router,
) -> ApplyResult:
    """Run the window/stale timers of the customers whose deadline has passed."""
    result = ApplyResult()
    for key in keys:
        state = get_state(key)
        if state is None:
            continue
        routed = ApplyResult()
        try:
            after, transitions = expire(state, now, config)
            deadline = next_deadline(after, config)
            _route_all(router, transitions, after, None, routed)
        except Exception as exc:  # noqa: BLE001 - one customer's timers never stop others'
            log.warning("timers of one customer raised %s", type(exc).__name__)
            result.dead_letters.append(
                StageDeadLetter(
                    stage="expire",
                    reason="expire_failed",
                    detail=_failure(exc),
                    record={"customer_key": key, "now": now.isoformat()},
                )
            )
            continue
        if after is not state:  # expire() hands back the same state when nothing was due
            put_state(key, after)
        result.deadlines[key] = deadline
        result.transitions.extend(transitions)
        result.actions.extend(routed.actions)
        result.dead_letters.extend(routed.dead_letters)
    return result


def reroute(
    command: dict[str, Any], *, get_state: Callable[[str], SupportState | None], router: Router
) -> ApplyResult:
    """A redriven route dead letter (`supportsync dlq redrive`, e.g. `no_identifier`):
    route its transition again with what the customer's state knows now. Attribute values
    are the current ones (an older value must never overwrite a newer one); the action ids
    are those of the dead-lettered actions, so nothing is delivered twice."""
    result = ApplyResult()
    original = Transition.from_dict(command["transition"])
    key = original.customer_key
    state = get_state(key)
    if state is not None and state.merged_into is not None:
        moved = {**command["transition"], "customer_key": state.merged_into}
        result.forwarded_merges.append((state.merged_into, encode_reroute(moved)))
        return result
    if state is None:
        result.dead_letters.append(
            StageDeadLetter(
                stage="route", reason="unknown_customer", source=None,
                detail=f"no state for {key}: nothing to route again",
                record={"transition": command["transition"]},
            )
        )
        return result
    update: dict[str, Any] = {
        "identities": state.identities,
        "consent": state.consent.snapshot(),
        "holdout": state.holdout,
    }
    if original.kind == "attributes_changed":
        update["attributes"] = state.exported_attributes()
    _route_all(router, [msgspec.structs.replace(original, **update)], state, None, result)
    return result
