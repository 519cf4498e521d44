"""Parking: events held back until their customer can be addressed (SPEC S3, R1).

Zendesk's event-subscribed ticket webhooks name the requester only by Zendesk user id.
Without Zendesk API credentials (or when the look-up failed) such a ticket belongs to a
customer with no email: applying it at once would make R1's suppression a dead letter
(`no_identifier`) and R2's "ticket created" event would never reach Customer.io, and the
user event that brings the email later changes no support attribute, so nothing would be
sent then either.

So the apply stage parks such an event in the customer's state (`SupportState.parked`,
durable with the state) instead of applying it, and applies every parked event, in
order, as soon as the customer can be addressed: an event that brings the identifier,
or a merge with a customer that has it. Their transitions are routed then, with the
identity known. Bounded: at most `PARK_LIMIT` events per customer; beyond that an event
is applied at once (as before parking existed). Counted (`ParkCounts`) and shown by
`state show` (`parked_events`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from msgspec.structs import replace

from contracts.events import EventKind, Identities, SupportEvent
from streams.state.model import SupportState
from streams.state.tickets import TICKET_KINDS

PARK_LIMIT = 20
PARKABLE_KINDS = frozenset({*TICKET_KINDS, EventKind.CSAT_RECEIVED})

#: whether a customer with these identities can be addressed (the router's identifier)
Addressable = Callable[[Identities], bool]


@dataclass
class ParkCounts:
    parked: int = 0
    released: int = 0
    overflow: int = 0  # applied at once: the customer already had PARK_LIMIT parked


def should_park(event: SupportEvent, state: SupportState | None, addressable: Addressable) -> bool:
    """A Zendesk ticket/CSAT event for a customer that cannot be addressed yet."""
    if event.source != "zendesk" or event.kind not in PARKABLE_KINDS:
        return False
    if state is not None and state.merged_into is not None:
        return False  # a tombstone: the event is forwarded to the survivor instead
    if addressable(event.identities):
        return False
    return state is None or not addressable(state.identities)


def encode(event: SupportEvent, received_at: float) -> str:
    doc = {"e": event.to_dict(), "r": received_at}
    return orjson.dumps(doc).decode()


def decode(entry: str) -> tuple[SupportEvent, float]:
    doc: dict[str, Any] = orjson.loads(entry)
    return SupportEvent.from_dict(doc["e"]), float(doc["r"])


def park(state: SupportState, event: SupportEvent, received_at: float) -> SupportState | None:
    """The state with the event parked; the same state when it is already parked (a
    redelivery); None when the customer's parking is full."""
    for entry in state.parked:
        if orjson.loads(entry)["e"]["event_id"] == event.event_id:
            return state
    if len(state.parked) >= PARK_LIMIT:
        return None
    return replace(state, parked=(*state.parked, encode(event, received_at)))


def combined(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    """Two merged customers' parked events without repeats. All are kept, even beyond
    PARK_LIMIT: a merge must lose nothing (the limit only stops new parking)."""
    return tuple(dict.fromkeys((*first, *second)))
