"""Attribute writes reach a platform newest-last, even when records are handled out of order.

At-least-once consumption could hand a deliver agent an out-topic record *after* a later one
(before streams/runtime/fetchorder.py kept records in offset order, a refetched hole after a
rebalance did; its backstop in `_add_gap` still processes one record early). This guard
keeps the platform right whatever the order. Events, tickets and messages are one-offs,
deduplicated by id, so their order does not change the outcome; an attribute update does:
`make chaos` saw a worker that took over partitions deliver `last_ticket_status: "solved"`
after `"closed"`, leaving Customer.io with the older value.

So each deliver agent remembers, per customer, sink and attribute, the creation time of the
newest write it handed to the sink (`as_of`), in the `last-sent` table next to the
customer's entry (same key prefix, so on the same partition and moving with it):

    key    "<customer_key>|<sink>|as_of"
    value  {"<attribute>": <unix seconds of the newest write's Action.created_at>, ...}

Audience membership (`audience_add` / `audience_remove`) is a setting too: it is kept as
the attribute `audience:<name>`, so an older add cannot undo a newer remove.

An attribute in a write created before that time is stale: dropped from the write (a write
left with no attribute is not sent at all). Equal times pass, so a replay of the newest
write repeats the same value. `created_at` is stamped when routing builds the action, in the
apply agent's processing order, whose newest state carries the newest values.

Where it ends: the times are wall-clock times of the workers that routed the actions, so
workers whose clocks disagree by more than the time between two writes to one person can
still let an older value win.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from contracts.actions import Action

AsOf = dict[str, float]

MEMBERSHIP_OPERATIONS = frozenset({"audience_add", "audience_remove"})


def written_fields(action: Action) -> list[str]:
    """The settings an action writes on the platform ([] for one-offs and the like)."""
    if action.is_attribute_update:
        return list(action.attributes)
    if action.operation in MEMBERSHIP_OPERATIONS:
        return [f"audience:{action.payload.get('audience')}"]
    return []


def as_of_key(customer_key: str, sink: str) -> str:
    return f"{customer_key}|{sink}|as_of"


def drop_stale(
    actions: Iterable[Action], as_of: Callable[[Action], AsOf]
) -> tuple[list[Action], int]:
    """The actions to send, with stale attributes removed, and how many writes were dropped
    whole. `as_of(action)` gives what was already sent for the action's customer and sink;
    earlier actions of `actions` count as sent before later ones."""
    kept: list[Action] = []
    dropped = 0
    # The list is in handling order: a write is also stale against an earlier, newer write
    # of the same list (records of several offsets are delivered in one call).
    seen: dict[str, AsOf] = {}
    for action in actions:
        fields = written_fields(action)
        if not fields:
            kept.append(action)
            continue
        newest = seen.get(action.customer_key)
        if newest is None:
            newest = as_of(action)
        seen[action.customer_key] = advance(newest, action)
        created = action.created_at.timestamp()
        fresh = [name for name in fields if newest.get(name, created) <= created]
        if len(fresh) == len(fields):
            kept.append(action)
        elif fresh:  # only attribute updates write several fields
            attributes = action.attributes
            kept.append(action.with_attributes({name: attributes[name] for name in fresh}))
        else:
            dropped += 1
    return kept, dropped


def advance(current: AsOf, action: Action) -> AsOf:
    """`current` after `action` was handed to the sink (a newer time per attribute wins)."""
    created = action.created_at.timestamp()
    updated = dict(current)
    for name in written_fields(action):
        if updated.get(name, created) <= created:
            updated[name] = created
    return updated


class WriteOrder:
    """The `as_of` entries of one sink, read and written through that sink's table writer
    (anything with `get(key) -> bytes | None` and `set(key, bytes)`)."""

    def __init__(self, sink: str, writer: Any) -> None:
        self.sink = sink
        self._writer = writer

    def as_of(self, action: Action) -> AsOf:
        raw = self._writer.get(as_of_key(action.customer_key, self.sink))
        return orjson.loads(raw) if raw is not None else {}

    def drop_stale(self, actions: Iterable[Action]) -> tuple[list[Action], int]:
        return drop_stale(actions, self.as_of)

    def handed_over(self, actions: Iterable[Action]) -> None:
        """Record the attribute writes the sink finished with (delivered, found unchanged or
        dead-lettered: a rejected newer value still makes an older one stale)."""
        for action in actions:
            if not written_fields(action):
                continue
            key = as_of_key(action.customer_key, self.sink)
            updated = advance(self.as_of(action), action)
            self._writer.set(key, orjson.dumps(updated))
