"""Per-customer support state (SPEC S4): frozen msgspec structs, compact bytes on the wire.

`SupportState` is copy-on-write: the machine never mutates one, it builds the next with
`msgspec.structs.replace`. Flags that need the config
to compute (`high_priority_open`, `refund_risk`, `recent_ticket`) are stored, set by the
machine on every evaluation, so `exported_attributes()` and `explain()` need no config.

Size: processed event ids are kept as 48-bit BLAKE2b digests packed into one `bytes`
(`ProcessedIds`: a false "duplicate" needs a collision among ~200 ids, odds ~1e-12 per
event), and `to_bytes` writes them raw after a compact orjson document with short keys,
positional tickets and notes, and times as unix seconds (`streams.state.codec`). A
customer with two open tickets and a full window of 200 ids is under 2 KB.
`from_bytes` also reads the older all-JSON encoding.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, overload

import msgspec

from contracts.events import Identities
from contracts.transitions import ConsentSnapshot

SupportStateName = Literal["clear", "open", "escalated", "cooldown", "recovery"]
TicketSource = Literal["zendesk", "intercom"]
# Why a ticket stopped counting as open; only "resolved" starts a cooldown and a campaign.
ClosedReason = Literal["resolved", "merged", "deleted", "stale"]

# Statuses that end a ticket (Zendesk solved/closed/deleted, Intercom closed, Intercom
# tickets resolved). Anything else, including statuses we do not know, counts as open:
# a wrongly open ticket only suppresses until it goes stale, a wrongly closed one leaks
# promotions to an unhappy customer.
CLOSED_STATUSES = frozenset({"solved", "closed", "deleted", "resolved"})
CONSENT_CHANNELS = ("email", "sms", "ads")


def as_utc(moment: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def unix_seconds(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


DIGEST_BYTES = 6


def event_digest_bytes(event_id: str) -> bytes:
    """48-bit BLAKE2b of an event id: what `ProcessedIds` packs."""
    return hashlib.blake2b(event_id.encode(), digest_size=DIGEST_BYTES).digest()


def event_digest(event_id: str) -> str:
    """Short fixed-width digest of an event id (8 characters), what `processed_ids` yields."""
    return base64.urlsafe_b64encode(event_digest_bytes(event_id)).decode()


def _digest_bytes(digest: str) -> bytes:
    raw = base64.urlsafe_b64decode(digest)
    if len(raw) != DIGEST_BYTES or len(digest) != 8:
        raise ValueError(f"not an event digest: {digest!r}")
    return raw


class ProcessedIds(Sequence[str]):
    """The bounded window of processed event digests, oldest first: an immutable sequence
    of `event_digest()` strings, stored packed as `DIGEST_BYTES` raw bytes each so that
    membership is one `bytes.find`, appending one concatenation and (de)serialising free.
    Equal to another window with the same digests, or to the tuple of them."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes = b"") -> None:
        if len(raw) % DIGEST_BYTES:
            raise ValueError("packed digests must be a multiple of 6 bytes")
        self.raw: bytes = raw

    @classmethod
    def of(cls, digests: Iterable[str]) -> ProcessedIds:
        return cls(b"".join(_digest_bytes(d) for d in digests))

    def __len__(self) -> int:
        return len(self.raw) // DIGEST_BYTES

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> ProcessedIds: ...

    def __getitem__(self, index: int | slice) -> str | ProcessedIds:
        if isinstance(index, slice):
            return ProcessedIds.of(tuple(self)[index])
        count = len(self)
        position = index + count if index < 0 else index
        if not 0 <= position < count:
            raise IndexError("processed id index out of range")
        start = position * DIGEST_BYTES
        return base64.urlsafe_b64encode(self.raw[start : start + DIGEST_BYTES]).decode()

    def __iter__(self) -> Iterator[str]:
        raw = self.raw
        for start in range(0, len(raw), DIGEST_BYTES):
            yield base64.urlsafe_b64encode(raw[start : start + DIGEST_BYTES]).decode()

    def __contains__(self, digest: object) -> bool:
        if isinstance(digest, str):
            try:
                return self.contains_raw(_digest_bytes(digest))
            except ValueError:
                return False
        return isinstance(digest, bytes) and self.contains_raw(digest)

    def contains_raw(self, digest: bytes) -> bool:
        """Whether the raw digest (`event_digest_bytes`) is in the window."""
        if len(digest) != DIGEST_BYTES:
            return False
        raw = self.raw
        found = raw.find(digest)
        while found != -1:
            if found % DIGEST_BYTES == 0:  # aligned: a whole digest, not two halves
                return True
            found = raw.find(digest, found + 1)
        return False

    def appended(self, digest: bytes, limit: int) -> ProcessedIds:
        """The window with `digest` added last, keeping the newest `limit` (FIFO)."""
        packed = self.raw + digest
        keep = limit * DIGEST_BYTES
        return ProcessedIds(packed[-keep:] if len(packed) > keep else packed)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProcessedIds):
            return self.raw == other.raw
        if isinstance(other, tuple):
            return tuple(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"ProcessedIds({tuple(self)!r})"

    def __reduce__(self) -> tuple[type[ProcessedIds], tuple[bytes]]:
        return ProcessedIds, (self.raw,)

    @classmethod
    def parse(cls, value: Any) -> ProcessedIds:
        """From the all-JSON encoding's string (the digests' text, concatenated) or a
        sequence of digests."""
        if isinstance(value, ProcessedIds):
            return value
        if isinstance(value, str):
            if len(value) % 8:
                raise ValueError("packed digests must be a multiple of 8 characters")
            return cls(base64.urlsafe_b64decode(value))
        if isinstance(value, bytes):
            return cls(value)
        if isinstance(value, list | tuple):
            return cls.of(value)
        raise ValueError(f"processed ids cannot be {type(value).__name__}")


class _Frozen(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """Immutable msgspec structs (subclasses make their fields keyword-only): building one
    or `msgspec.structs.replace` costs a fraction of a pydantic model's. Values are not
    validated: they come from validated events or from our own bytes."""


class TicketState(_Frozen, frozen=True, kw_only=True):
    """A Zendesk ticket or an Intercom conversation/ticket as the state last saw it."""

    source: TicketSource
    id: str
    status: str
    priority: str | None = None
    reason: str | None = None
    tags: tuple[str, ...] = ()
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    closed_reason: ClosedReason | None = None
    merged_into: str | None = None
    assignee: str | None = None

    @property
    def key(self) -> str:
        return ticket_key(self.source, self.id)

    @property
    def is_open(self) -> bool:
        return self.closed_reason is None


def ticket_key(source: str, ticket_id: str) -> str:
    return f"{source}:{ticket_id}"


def last_ticket(tickets: dict[str, TicketState]) -> TicketState | None:
    """The most recently opened ticket, preferring ones that were not merged away."""
    best: TicketState | None = None
    best_merged: TicketState | None = None
    for ticket in tickets.values():
        if ticket.closed_reason == "merged":
            if best_merged is None or is_newer(ticket, best_merged):
                best_merged = ticket
        elif best is None or is_newer(ticket, best):
            best = ticket
    return best if best is not None else best_merged


def is_newer(ticket: TicketState, than: TicketState) -> bool:
    """`_recency(ticket) > _recency(than)`, building the keys only on a tie of times."""
    opened, other = ticket.opened_at, than.opened_at
    if opened != other:
        return opened > other
    return ticket.key > than.key


def _recency(ticket: TicketState) -> tuple[datetime, str]:
    return ticket.opened_at, ticket.key


def current_reason(open_tickets: list[TicketState], last: TicketState | None) -> str | None:
    """Reason of the newest open ticket that has one, else of the last ticket."""
    with_reason = [t for t in open_tickets if t.reason]
    if with_reason:
        return max(with_reason, key=_recency).reason
    return None if last is None else last.reason


class Csat(_Frozen, frozen=True, kw_only=True):
    """The newest satisfaction rating: Zendesk good/bad or Intercom 1-5, as sent."""

    score: str | int
    scale: Literal["good_bad", "one_to_five"]
    at: datetime
    comment: bool = False
    low: bool = False
    ticket_id: str | None = None


class Consent(_Frozen, frozen=True, kw_only=True):
    """Unsubscribe flags keyed "platform:channel" with the time they were set.

    A channel is allowed only while no platform holds a flag for it: an unsubscribe
    anywhere wins; a later `subscribed` from a platform clears only that platform's flag.
    """

    unsubscribed: dict[str, datetime] = msgspec.field(default_factory=dict)
    #: "platform:channel" -> when that platform last said the person subscribed (opt-in)
    subscribed: dict[str, datetime] = msgspec.field(default_factory=dict)

    def allows(self, channel: str) -> bool:
        return not any(flag.endswith(f":{channel}") for flag in self.unsubscribed)

    def snapshot(self) -> ConsentSnapshot:
        if not self.unsubscribed and not self.subscribed:
            return _ALL_ALLOWED  # most customers: skip building one per transition
        channels = {flag.rsplit(":", 1)[-1] for flag in self.subscribed}
        return ConsentSnapshot(
            email=self.allows("email"),
            sms=self.allows("sms"),
            ads=self.allows("ads"),
            unsubscribed=tuple(sorted(self.unsubscribed)),
            opted_in=tuple(sorted(c for c in channels if self.allows(c))),
        )


_ALL_ALLOWED = ConsentSnapshot()


class ProfileField(_Frozen, frozen=True, kw_only=True):
    value: Any
    source: str
    at: datetime


class TransitionNote(_Frozen, frozen=True, kw_only=True, array_like=True):
    """A compact record of a past transition, kept for `explain()`.

    Serialised as a positional list (field order): ten of them are kept per customer, and
    field names would be a third of the state's bytes."""

    at: datetime
    kind: str
    reason: str
    event: str
    old: str | None = None
    new: str | None = None
    ticket: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            name: _iso(v) if isinstance(v, datetime) else v
            for name in self.__struct_fields__
            for v in (getattr(self, name),)
        }


_NO_IDENTITIES = Identities()
_NO_CONSENT = Consent()
_NO_IDS = ProcessedIds()


class SupportState(_Frozen, frozen=True, kw_only=True):
    customer_key: str
    identities: Identities = _NO_IDENTITIES
    tickets: dict[str, TicketState] = msgspec.field(default_factory=dict)
    csat: Csat | None = None
    consent: Consent = _NO_CONSENT
    segments: tuple[str, ...] = ()  # sorted, so serialisation is deterministic
    profile: dict[str, ProfileField] = msgspec.field(default_factory=dict)
    support_state: SupportStateName = "clear"
    last_resolved_at: datetime | None = None
    last_low_csat_at: datetime | None = None
    last_email_open_at: datetime | None = None  # newest email open (R3 days since)
    as_of: datetime | None = None  # newest time the state was evaluated at (never decreases)
    seq: int = 0
    processed_ids: ProcessedIds = _NO_IDS  # event_digest() values, oldest first
    holdout: bool = False
    merged_into: str | None = None
    #: emails of customers merged into this one that differ from `identities.email`
    other_emails: tuple[str, ...] = ()
    recent_transitions: tuple[TransitionNote, ...] = ()
    #: events held back until the customer can be addressed (streams.parking), oldest first
    parked: tuple[str, ...] = ()
    # Set by the machine on every evaluation (they need the config).
    high_priority_open: bool = False
    refund_risk: bool = False
    recent_ticket: bool = False

    def has_processed(self, event_id: str) -> bool:
        return self.processed_ids.contains_raw(event_digest_bytes(event_id))

    @property
    def open_tickets(self) -> list[TicketState]:
        return [t for t in self.tickets.values() if t.is_open]

    @property
    def open_ticket_count(self) -> int:
        return sum(1 for t in self.tickets.values() if t.is_open)

    @property
    def has_open_ticket(self) -> bool:
        return any(t.is_open for t in self.tickets.values())

    @property
    def last_ticket(self) -> TicketState | None:
        return last_ticket(self.tickets)

    @property
    def last_ticket_at(self) -> datetime | None:
        last = self.last_ticket
        return None if last is None else last.opened_at

    @property
    def last_ticket_status(self) -> str | None:
        last = self.last_ticket
        return None if last is None else last.status

    @property
    def ticket_reason(self) -> str | None:
        return current_reason(self.open_tickets, self.last_ticket)

    def exported_attributes(self) -> dict[str, Any]:
        """The R1/R6 person attributes, JSON-ready (times as unix seconds).

        One pass over the tickets (this runs twice per event): the open count, the last
        ticket as `last_ticket` picks it and the reason as `current_reason` picks it."""
        count = 0
        best = best_merged = reasoned = None
        for ticket in self.tickets.values():
            closed = ticket.closed_reason
            if closed is None:
                count += 1
                if ticket.reason and (reasoned is None or is_newer(ticket, reasoned)):
                    reasoned = ticket
            if closed == "merged":
                if best_merged is None or is_newer(ticket, best_merged):
                    best_merged = ticket
            elif best is None or is_newer(ticket, best):
                best = ticket
        last = best if best is not None else best_merged
        if reasoned is not None:
            reason = reasoned.reason
        else:
            reason = None if last is None else last.reason
        return {
            "has_open_ticket": count > 0,
            "open_ticket_count": count,
            "last_ticket_at": None if last is None else unix_seconds(last.opened_at),
            "last_ticket_status": None if last is None else last.status,
            "ticket_reason": reason,
            "support_state": self.support_state,
            "refund_risk": self.refund_risk,
            "recent_ticket": self.recent_ticket,
            "last_csat_score": None if self.csat is None else self.csat.score,
            "last_csat_at": None if self.csat is None else unix_seconds(self.csat.at),
        }

    def to_bytes(self) -> bytes:
        from streams.state.codec import encode_state  # it needs this module's classes

        return encode_state(self)

    @classmethod
    def from_bytes(cls, data: bytes | str) -> SupportState:
        from streams.state.codec import decode_state

        return decode_state(data)

    def to_json_bytes(self) -> bytes:
        """The older, all-JSON encoding (still read by `from_bytes`)."""
        from streams.state.codec import encode_state_v1

        return encode_state_v1(self)

    def explain(self) -> dict[str, Any]:
        """Why the customer is (not) suppressed, for `supportsync state show`."""
        from streams.state.explain import explain_state  # it needs this module's classes

        return explain_state(self)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
