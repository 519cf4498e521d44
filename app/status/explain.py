"""`GET /state/{identifier}`: find a customer and explain its support state (SPEC S8).

An identifier is a customer key (`c:…`), an identifier key in the identity table's format
(`<kind>:<value>`, e.g. `zendesk_user_id:42`, see streams/identity.py), or a bare email.
It is resolved through the identity table, following merge forwarding pointers, and the
state is read from this worker's state table. With several workers the state of a customer
lives on the worker that owns its partition; the answer says which partition that is.
`last_sent` (sink → operation, recipe, at, outcome) comes from the `last-sent` table, which
lives on the same partition (streams/runtime/lastsent.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from contracts.events import Identities
from contracts.partitioner import partition_for
from streams import identity
from streams.state.model import SupportState

Lookup = Callable[[str], str | None]
GetState = Callable[[str], SupportState | None]
# customer key → {sink: {"operation", "action_id", "recipe"?, "at", "outcome"}}
GetLastSent = Callable[[str], dict[str, dict[str, Any]]]


def _nothing_sent(_: str) -> dict[str, dict[str, Any]]:
    return {}


class BadIdentifier(ValueError):
    """The identifier names no known identifier kind."""


@dataclass(frozen=True)
class Explanation:
    found: bool
    customer_key: str | None
    partition: int | None
    body: dict[str, Any]


def identifier_key(identifier: str) -> str | None:
    """The identity-table key for `identifier`, or None for a customer key."""
    text = identifier.strip()
    if text.startswith("c:"):
        return None
    kind, sep, value = text.partition(":")
    if sep and kind in identity.IDENTIFIER_KINDS:
        fields = {kind: value}
    elif "@" in text:
        fields = {"email": text}
    else:
        raise BadIdentifier(
            "give an email, a customer key (c:…) or <kind>:<value> with kind in "
            f"{list(identity.IDENTIFIER_KINDS)}"
        )
    try:
        keys = identity.identifier_keys(Identities.from_dict(fields))
    except msgspec.ValidationError as exc:
        raise BadIdentifier(f"invalid {next(iter(fields))}") from exc
    if not keys:
        raise BadIdentifier("empty identifier")
    return keys[0]


def resolve(identifier: str, lookup: Lookup) -> str | None:
    """The current customer key for `identifier` (None when the identity table has none)."""
    key = identifier_key(identifier)
    customer = identifier.strip() if key is None else lookup(key)
    seen: set[str] = set()
    while customer is not None and customer not in seen:
        seen.add(customer)
        target = lookup(identity.forward_key(customer))
        if target is None or len(seen) > identity.MAX_FORWARD_HOPS:
            return customer
        customer = target
    return customer


def explain(
    identifier: str,
    lookup: Lookup,
    get_state: GetState,
    partitions: int,
    last_sent: GetLastSent = _nothing_sent,
) -> Explanation:
    customer = resolve(identifier, lookup)
    if customer is None:
        return Explanation(False, None, None, {"error": "unknown identifier"})
    state = get_state(customer)
    hops = 0
    while state is not None and state.merged_into and hops < identity.MAX_FORWARD_HOPS:
        customer, hops = state.merged_into, hops + 1
        state = get_state(customer)
    partition = partition_for(customer, partitions)
    if state is None:
        body = {
            "error": "no state on this worker",
            "customer_key": customer,
            "partition": partition,
        }
        return Explanation(False, customer, partition, body)
    body = {**state.explain(), "partition": partition, "last_sent": last_sent(customer)}
    return Explanation(True, customer, partition, body)
