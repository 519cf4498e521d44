"""Identity resolution (SPEC S3): every identifier of a person maps to one customer key.

Pure: `resolve(identities, lookup)` reads an identity table through `lookup` and returns
what to write; the Faust wiring applies the writes. One table holds three kinds of entry,
all string -> string:

- `"<kind>:<value>"` -> customer key, for each identifier kind (e.g. "email:a@b.com");
- `"merged:<key>"` -> survivor key, a forwarding pointer left by a merge. Identifiers not
  seen in the merging event still point at the absorbed key; lookups follow the pointers
  (and re-link those identifiers to the survivor the next time they are seen);
- `"owner:<key>:<kind>"` -> value, for the strong identifier kinds (`STRONG_KINDS`), so a
  merge can tell whether two keys are two distinct accounts.

Customer keys. A new key is `"c:" + sha256(identifier key)[:16]` of the event's first
identifier in `IDENTIFIER_KINDS` order (email first), so a replay from an empty table
gives the same keys. When the event's identifiers resolve to several existing keys the
lexicographically smallest survives; the others are reported in `merges` as (absorbed,
survivor) and get forwarding pointers.

Conflicts (returned, never guessed; the agent dead-letters the event with the reason).
An external_id is a logged-in account, so two different external_ids are two different
people even when they share an email (families, shared mailboxes, reused work
addresses). A resolution conflicts when, across the event and every customer key it
touches, some strong kind has more than one value: e.g. the event links email e (key K1,
owning external_id X) with external_id Y. Merging would join two accounts, so nothing is
written. Events carrying no identifier also conflict ("no identifiers"), as does a cycle
or an over-long chain of forwarding pointers (a corrupt table).

Running it across partitions. The `events` topic is keyed by the event's first
identifier, so all events naming that identifier first are ordered on one partition.
The identity table is read through a replicated (global) view, because an event's other
identifiers live on other partitions; writes go to the table's changelog. Two events
racing on different partitions may create two keys for one person; the next event that
names both identifiers merges them deterministically, so the table converges. A merge is
carried out by the state stage: an "absorb" command keyed by the absorbed key makes that
partition replace its state with a tombstone (`merged_into`) and forward the state bytes
keyed by the survivor key, where `merge_states` folds them in; events that still arrive
for the absorbed key meet the tombstone and are forwarded to the survivor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from contracts.events import Identities

# Order for choosing a new customer key: the most stable identifier first.
IDENTIFIER_KINDS: tuple[str, ...] = (
    "email",
    "external_id",
    "cio_id",
    "intercom_contact_id",
    "zendesk_user_id",
    "phone",
)
# Kinds that name one account: two different values are two people, never merged.
STRONG_KINDS: tuple[str, ...] = ("external_id",)
MAX_FORWARD_HOPS = 16

Lookup = Callable[[str], str | None]


@dataclass(frozen=True)
class Resolution:
    customer_key: str
    new_links: tuple[tuple[str, str], ...] = ()  # (table key, value) to write
    merges: tuple[tuple[str, str], ...] = ()  # (absorbed key, survivor key)
    conflict: str | None = None


class _BrokenChain(Exception):
    pass


def identifier_keys(identities: Identities) -> list[str]:
    return [f"{kind}:{value}" for kind in IDENTIFIER_KINDS
            if (value := getattr(identities, kind))]


def new_customer_key(identifier_key: str) -> str:
    return "c:" + hashlib.sha256(identifier_key.encode()).hexdigest()[:16]


def forward_key(customer_key: str) -> str:
    return f"merged:{customer_key}"


def owner_key(customer_key: str, kind: str) -> str:
    return f"owner:{customer_key}:{kind}"


def _follow(customer_key: str, lookup: Lookup) -> str:
    seen = {customer_key}
    current = customer_key
    for _ in range(MAX_FORWARD_HOPS):
        target = lookup(forward_key(current))
        if target is None:
            return current
        if target in seen:
            raise _BrokenChain(f"forwarding cycle through {current}")
        seen.add(target)
        current = target
    raise _BrokenChain(f"forwarding chain from {customer_key} longer than {MAX_FORWARD_HOPS}")


def _strong_conflict(
    identities: Identities, customers: list[str], lookup: Lookup
) -> tuple[str | None, dict[str, str]]:
    """(conflict reason or None, the single value of each strong kind to own)."""
    owned: dict[str, str] = {}
    for kind in STRONG_KINDS:
        mine = getattr(identities, kind)
        values = {mine} if mine else set()
        values |= {v for ck in customers if (v := lookup(owner_key(ck, kind))) is not None}
        if len(values) > 1:
            return (
                f"conflicting {kind}: the event and keys {customers} hold "
                f"{len(values)} different values; not merging two accounts",
                {},
            )
        if values:
            owned[kind] = values.pop()
    return None, owned


def resolve(identities: Identities, lookup: Lookup) -> Resolution:
    keys = identifier_keys(identities)
    if not keys:
        return Resolution(customer_key="", conflict="no identifiers")
    linked = {key: lookup(key) for key in keys}
    try:
        current = {key: _follow(ck, lookup) for key, ck in linked.items() if ck is not None}
    except _BrokenChain as broken:
        return Resolution(customer_key="", conflict=str(broken))
    customers = sorted(set(current.values()))
    survivor = customers[0] if customers else new_customer_key(keys[0])
    conflict: str | None = None
    owned: dict[str, str] = {}
    if len(customers) > 1 or any(getattr(identities, k) for k in STRONG_KINDS):
        # Otherwise (the common case: one customer or none, no account id in the event)
        # nothing can join two accounts or own anything new; skips a table read per event.
        conflict, owned = _strong_conflict(identities, customers, lookup)
    if conflict is not None:
        return Resolution(customer_key=survivor, conflict=conflict)
    absorbed = customers[1:]
    links = [(key, survivor) for key in keys if linked[key] != survivor]
    links += [(forward_key(ck), survivor) for ck in absorbed]
    links += [
        (owner_key(survivor, kind), value)
        for kind, value in owned.items()
        if lookup(owner_key(survivor, kind)) != value
    ]
    return Resolution(
        customer_key=survivor,
        new_links=tuple(links),
        merges=tuple((ck, survivor) for ck in absorbed),
    )
