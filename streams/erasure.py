"""Erasure of a person (GDPR/CCPA): what is removed, and the deny list that keeps it removed.

Erasing customer key K removes K's state (parked events included), every identity link
naming K (or a key merged into K), K's `last-sent` entries, and records the erasure on the
`erasures` topic (compacted, keyed by K):

    {"customer_key": K, "erased_at": <unix seconds>, "deny": ["c:…", …], "links": <n>}

No identifier is stored in clear. `deny` holds K, the keys merged into K, and for every
identifier the person had, the customer key that identifier alone would get
(`identity.new_customer_key`, a truncated SHA-256 of "<kind>:<value>"). Customer keys are
deterministic, so a replay of the raw topics from an empty identity table gives the person
exactly one of those keys again, whichever identifier an event names first.

The deny list is every record of that topic, read by each worker (and the replay worker)
before it ingests anything. An event is dropped when one of its identifiers, or the customer
key it reached, is in the list and the event happened (`occurred_at`) no later than the
erasure: a replay of the raw topics or a platform re-sending old data cannot bring the
person back. An event that happened after the erasure is a new fact (a new ticket from the
same address) and is processed like any other: the person starts again from nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from contracts.events import SupportEvent
from streams import identity


def deny_keys(customers: Iterable[str], identifier_keys: Iterable[str]) -> list[str]:
    """The deny-list keys of a person: their customer keys, and the key each of their
    identifiers ("<kind>:<value>") would be given on its own."""
    keys = set(customers)
    keys.update(identity.new_customer_key(k) for k in identifier_keys)
    return sorted(keys)


def linked_keys(
    customer_key: str, entries: Iterable[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """(customer keys, identity-table keys) of a person, from the identity table's entries:
    K itself, every key whose merge forwarded to K (transitively), and the identifier links,
    forwarding pointers and owner entries of all of them."""
    items = list(entries)
    customers = {customer_key}
    grew = True
    while grew:  # keys merged into K, then keys merged into those, ...
        grew = False
        for key, value in items:
            if key.startswith("merged:") and value in customers:
                absorbed = key.removeprefix("merged:")
                if absorbed not in customers:
                    customers.add(absorbed)
                    grew = True
    table_keys = []
    for key, value in items:
        if key.startswith("merged:"):
            if key.removeprefix("merged:") in customers:
                table_keys.append(key)
        elif key.startswith("owner:"):
            if key.removeprefix("owner:").rpartition(":")[0] in customers:
                table_keys.append(key)
        elif value in customers:
            table_keys.append(key)
    return sorted(customers), sorted(table_keys)


def is_identifier_key(key: str) -> bool:
    """An identity-table key naming an identifier ("email:…"), not a pointer or owner entry."""
    return key.partition(":")[0] in identity.IDENTIFIER_KINDS


@dataclass(frozen=True)
class ErasureRecord:
    customer_key: str
    erased_at: float
    deny: tuple[str, ...]
    links: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps({
            "customer_key": self.customer_key, "erased_at": self.erased_at,
            "deny": list(self.deny), "links": self.links,
        })

    @classmethod
    def from_json(cls, data: bytes) -> ErasureRecord:
        doc = orjson.loads(data)
        return cls(
            customer_key=str(doc["customer_key"]), erased_at=float(doc["erased_at"]),
            deny=tuple(str(k) for k in doc.get("deny", ())), links=int(doc.get("links", 0)),
        )


@dataclass
class DenyList:
    """Deny-list key → the latest time it was erased."""

    erased: dict[str, float] = field(default_factory=dict)

    def add(self, record: ErasureRecord) -> None:
        for key in (record.customer_key, *record.deny):
            if record.erased_at > self.erased.get(key, float("-inf")):
                self.erased[key] = record.erased_at

    def __bool__(self) -> bool:
        return bool(self.erased)

    def denies_key(self, customer_key: str, when: datetime | float) -> bool:
        """Whether something of `customer_key` from `when` predates its erasure."""
        erased_at = self.erased.get(customer_key)
        if erased_at is None:
            return False
        at = when.timestamp() if isinstance(when, datetime) else when
        return at <= erased_at

    def denies_event(self, event: SupportEvent) -> bool:
        """Whether one of the event's identifiers belongs to a person erased after it
        happened."""
        if not self.erased:
            return False
        at = event.occurred_at.timestamp()
        for key in identity.identifier_keys(event.identities):
            erased_at = self.erased.get(identity.new_customer_key(key))
            if erased_at is not None and at <= erased_at:
                return True
        return False
