"""Canonical events (SPEC S3): what every normalizer produces and the state machine consumes.

A `SupportEvent` is platform-neutral. Normalizers (one per platform, pure functions in
`connectors/<platform>/normalize.py`) turn raw webhook bodies into these; the identity stage
attaches a customer key; the state machine folds them into `SupportState`.

The types are frozen msgspec structs: cheap to build on the hot path, and the same classes
are the wire types of `events.by-customer` (contracts.records): JSON with default values
left out. Each struct's `__post_init__` normalizes what every source
needs normalized (emails lower-cased, ids as strings, ticket statuses lower-case) and checks
the values whose type the state machine relies on, so an event built from foreign input is
either well-formed or a `ValueError`/`TypeError` (msgspec raises `ValidationError` for
either while decoding). `from_dict` validates a JSON-shaped dict the way the topic decoder
does, and also accepts unix-second times and integer ids (older encodings, test fixtures).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar, get_args

import msgspec
from msgspec.structs import force_setattr

Source = Literal["zendesk", "intercom", "customerio", "pipelines"]
Origin = Literal["live", "backfill", "replay"]
_SOURCES = frozenset(get_args(Source))
_ORIGINS = frozenset(get_args(Origin))


def check_source_and_origin(source: Any, origin: Any) -> None:
    """ValueError unless both are known (for structs that carry them)."""
    if source not in _SOURCES:
        raise ValueError(f"source {source!r} is not a known source")
    if origin not in _ORIGINS:
        raise ValueError(f"origin {origin!r}: expected live, backfill or replay")


class EventKind(StrEnum):
    TICKET_OPENED = "ticket_opened"
    TICKET_STATUS_CHANGED = "ticket_status_changed"
    TICKET_MERGED = "ticket_merged"
    TICKET_PRIORITY_CHANGED = "ticket_priority_changed"
    TICKET_TAGS_CHANGED = "ticket_tags_changed"
    CSAT_RECEIVED = "csat_received"
    CONVERSATION_OPENED = "conversation_opened"
    CONVERSATION_CLOSED = "conversation_closed"
    CONVERSATION_TAGGED = "conversation_tagged"
    CONVERSATION_RATED = "conversation_rated"
    CONTACT_UPDATED = "contact_updated"
    #: a helpdesk organization changed: no person, no customer state (R10 → companies)
    ORGANIZATION_UPDATED = "organization_updated"
    UNSUBSCRIBED = "unsubscribed"
    SUBSCRIBED = "subscribed"
    EMAIL_ENGAGEMENT = "email_engagement"
    SEGMENT_ENTERED = "segment_entered"
    SEGMENT_EXITED = "segment_exited"
    LIFECYCLE_EVENT = "lifecycle_event"
    IDENTIFY = "identify"
    GROUP = "group"
    TRACK = "track"


def normalize_email(value: str | None) -> str | None:
    """Emails are keys: trimmed and lower-cased; empty means absent."""
    if value is None:
        return None
    cleaned = value.strip().lower()
    return cleaned or None


C = TypeVar("C", bound="Checked")
S = TypeVar("S", bound="_Struct")


class Checked(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A frozen struct whose `__post_init__` checks and normalizes its values.

    `gc=False` (here and on the other contracts and state structs): they are trees of plain
    data that never reference themselves, so the cycle collector need not track them;
    allocating them and collecting the young generation costs less."""

    def __post_init__(self) -> None:
        pass

    def replace(self: C, **update: Any) -> C:
        """A copy with `update` applied (checked and normalized like a new one)."""
        copied: C = msgspec.structs.replace(self, **update)
        copied.__post_init__()
        return copied


class _Struct(Checked, frozen=True, kw_only=True, forbid_unknown_fields=True,
              omit_defaults=True):
    def to_dict(self) -> dict[str, Any]:
        """The JSON form as plain values (defaults left out, times as ISO 8601)."""
        doc: dict[str, Any] = msgspec.to_builtins(self)
        return doc

    @classmethod
    def from_dict(cls: type[S], doc: Any) -> S:
        """A validated struct from its JSON form; `msgspec.ValidationError` when it is none."""
        return msgspec.convert(_stringify(cls.__name__, doc), cls, strict=False)


def _id_text(name: str, value: Any) -> str | None:
    """An identifier as a stripped string (platforms send ids as numbers or strings)."""
    if type(value) is str:
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        return None
    raise TypeError(f"{name}: expected a string or an integer, got {type(value).__name__}")


class Identities(_Struct, frozen=True, omit_defaults=False):
    """Every identifier a platform told us about the person; all optional. Written with
    every field (absent ones as null), as the transitions topic has always carried them."""

    email: str | None = None
    external_id: str | None = None
    zendesk_user_id: str | None = None
    intercom_contact_id: str | None = None
    cio_id: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        email = self.email
        if email is not None:
            if type(email) is not str:
                raise TypeError(f"email: expected a string, got {type(email).__name__}")
            cleaned = normalize_email(email)
            if cleaned != email:
                force_setattr(self, "email", cleaned)
        for name in _ID_NAMES:
            value = getattr(self, name)
            if value is not None and (type(value) is not str or value.strip() is not value
                                      or not value):
                force_setattr(self, name, _id_text(name, value))

    def as_dict(self) -> dict[str, str | None]:
        """Every field, None included, in declaration order."""
        return msgspec.structs.asdict(self)

    def pairs(self) -> list[tuple[str, str]]:
        """(kind, value) for every identifier present, in a fixed order."""
        return [(k, v) for k, v in msgspec.structs.asdict(self).items() if v]

    def merged(self, other: Identities) -> Identities:
        """Fields of `self`, filled in from `other` where `self` has none."""
        mine = msgspec.structs.asdict(self)
        theirs = msgspec.structs.asdict(other)
        return Identities(**{k: mine[k] or theirs[k] for k in mine})


_ID_NAMES = ("external_id", "zendesk_user_id", "intercom_contact_id", "cio_id", "phone")
IDENTITY_FIELDS: tuple[str, ...] = Identities.__struct_fields__
NO_IDENTITIES = Identities()


def _time(name: str, value: Any) -> datetime | None:
    """A time given as a datetime, an ISO 8601 string or unix seconds."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: not an ISO 8601 time") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{name}: unix time out of range") from None
    raise TypeError(f"{name}: expected a time, got {type(value).__name__}")


def _check_times(info: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(info, name)
        if value is not None and type(value) is not datetime:
            force_setattr(info, name, _time(name, value))


def _tags(info: Any) -> None:
    tags = info.tags
    if type(tags) is not tuple:
        if not isinstance(tags, list | tuple):
            raise TypeError(f"tags: expected a list, got {type(tags).__name__}")
        force_setattr(info, "tags", tuple(tags))


class TicketInfo(_Struct, frozen=True):
    """A Zendesk ticket as one event saw it. `status` is lower-case (new/open/pending/hold/
    solved/closed/deleted); `updated_at` is platform time, used to drop stale updates."""

    id: str
    status: str | None = None
    priority: str | None = None
    reason: str | None = None
    tags: tuple[str, ...] = ()
    subject: str | None = None
    channel: str | None = None
    assignee: str | None = None
    group: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    merged_into: str | None = None

    def __post_init__(self) -> None:
        if type(self.id) is not str:
            force_setattr(self, "id", _required_id("ticket id", self.id))
        if self.merged_into is not None and type(self.merged_into) is not str:
            force_setattr(self, "merged_into", _id_text("merged_into", self.merged_into))
        # Event-subscribed webhooks say "SOLVED"/"HIGH"; the REST API says "solved"/"high".
        for name in ("status", "priority"):
            value = getattr(self, name)
            if type(value) is str:
                lowered = value.strip().lower()
                if lowered != value:
                    force_setattr(self, name, lowered)
        _tags(self)
        _check_times(self, ("created_at", "updated_at"))


def _required_id(name: str, value: Any) -> str:
    text = _id_text(name, value)
    if text is None:
        raise ValueError(f"{name} is required")
    return text


class ConversationInfo(_Struct, frozen=True):
    """An Intercom conversation. `state` is open/snoozed/closed."""

    id: str
    state: str | None = None
    priority: str | None = None
    reason: str | None = None
    tags: tuple[str, ...] = ()
    admin_id: str | None = None
    updated_at: datetime | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if type(self.id) is not str:
            force_setattr(self, "id", _required_id("conversation id", self.id))
        _tags(self)
        _check_times(self, ("updated_at", "created_at"))


class RatingInfo(_Struct, frozen=True):
    """CSAT: Zendesk good/bad, or Intercom 1–5. `score` keeps the platform's value."""

    score: str | int
    scale: Literal["good_bad", "one_to_five"]
    ticket_id: str | None = None
    comment: bool = False
    comment_text: str | None = None  # what the customer wrote, for the CSAT event (R6)

    def __post_init__(self) -> None:
        if self.scale not in ("good_bad", "one_to_five"):
            raise ValueError(f"rating scale {self.scale!r}: expected good_bad or one_to_five")
        if self.ticket_id is not None and type(self.ticket_id) is not str:
            force_setattr(self, "ticket_id", _id_text("ticket_id", self.ticket_id))

    @property
    def is_low(self) -> bool:
        if self.scale == "good_bad":
            return str(self.score).lower() == "bad"
        return int(self.score) <= 2


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SupportEvent(_Struct, frozen=True):
    event_id: str
    source: Source
    kind: EventKind
    occurred_at: datetime
    received_at: datetime = msgspec.field(default_factory=_utcnow)
    identities: Identities = NO_IDENTITIES
    ticket: TicketInfo | None = None
    conversation: ConversationInfo | None = None
    rating: RatingInfo | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    origin: Origin = "live"
    #: who made the change on the platform, when the payload says: a Zendesk user id or
    #: email (ticket event actor, trigger updater), an Intercom admin id (the author of the
    #: conversation part). Lets the ingest stage recognise supportsync's own writes.
    author_id: str | None = None

    def __post_init__(self) -> None:
        if type(self.event_id) is not str:
            raise TypeError(f"event_id: expected a string, got {type(self.event_id).__name__}")
        check_source_and_origin(self.source, self.origin)
        if type(self.kind) is not EventKind:
            force_setattr(self, "kind", EventKind(self.kind))
        if type(self.occurred_at) is not datetime:
            force_setattr(self, "occurred_at", _time("occurred_at", self.occurred_at))
        if type(self.received_at) is not datetime:
            force_setattr(self, "received_at", _time("received_at", self.received_at))
        if type(self.identities) is not Identities:
            force_setattr(self, "identities", _nested(Identities, self.identities))
        for name, cls in _PARTS:
            value = getattr(self, name)
            if value is not None and type(value) is not cls:
                force_setattr(self, name, _nested(cls, value))
        if type(self.attributes) is not dict:
            raise TypeError("attributes: expected a JSON object")
        if self.author_id is not None and type(self.author_id) is not str:
            force_setattr(self, "author_id", _id_text("author_id", self.author_id))

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> SupportEvent:
        return cls.from_dict(msgspec.json.decode(data))


_PARTS: tuple[tuple[str, type[_Struct]], ...] = (
    ("ticket", TicketInfo), ("conversation", ConversationInfo), ("rating", RatingInfo),
)


def _nested(cls: type[S], value: Any) -> S:
    """A nested struct given as its JSON object."""
    if isinstance(value, dict):
        return cls(**value)
    raise TypeError(f"expected {cls.__name__} or a JSON object, got {type(value).__name__}")


# Which fields of which struct hold identifiers that may come as integers (platforms send
# ids either way); `from_dict` turns those into strings before the strict types see them.
_ID_FIELDS: dict[str, tuple[str, ...]] = {
    "Identities": _ID_NAMES,
    "TicketInfo": ("id", "merged_into"),
    "ConversationInfo": ("id",),
    "RatingInfo": ("ticket_id",),
    "SupportEvent": ("author_id",),
}
_NESTED: dict[str, tuple[tuple[str, str], ...]] = {
    "SupportEvent": (("identities", "Identities"), ("ticket", "TicketInfo"),
                     ("conversation", "ConversationInfo"), ("rating", "RatingInfo")),
}


def _stringify(name: str, doc: Any) -> Any:
    if not isinstance(doc, dict):
        return doc
    out = doc
    for field in _ID_FIELDS.get(name, ()):
        value = doc.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            if out is doc:
                out = dict(doc)
            out[field] = str(value)
    for field, nested in _NESTED.get(name, ()):
        value = doc.get(field)
        if isinstance(value, dict):
            converted = _stringify(nested, value)
            if converted is not value:
                if out is doc:
                    out = dict(doc)
                out[field] = converted
    return out
