"""Wire formats of the records on supportsync's topics.

Every topic carries *batches*: one Kafka record holds a list of items that share a partition.
Faust pays ~230 µs per Kafka record before any work (STACK-NOTES), so packing many webhook
envelopes / events / actions into one record is what lets the pipeline keep up with a bare
aiokafka loop. Batches never mix partitions, so per-customer order is kept.

- raw.*               `RawBatch` of `RawEnvelope` (body bytes kept verbatim: the record of truth)
- events.by-customer  `EventBatch` of (customer_key, SupportEvent)
- transitions         `TransitionBatch` (JSON objects produced by the state machine)
- out.<sink>          `ActionBatch` (JSON objects: contracts.actions.Action)
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field

from contracts.events import (
    ConversationInfo,
    EventKind,
    Identities,
    Origin,
    RatingInfo,
    Source,
    SupportEvent,
    TicketInfo,
)
from contracts.fast import JSON_OPTIONS, construct, json_default

if TYPE_CHECKING:
    from contracts.actions import Action


class Transition(Protocol):
    """What the transitions topic needs of a transition: its JSON fields."""

    def json_fields(self) -> dict[str, Any]: ...


class RawEnvelope(BaseModel):
    """One accepted inbound request, as received. `body` is the raw text (JSON is UTF-8)."""

    model_config = ConfigDict(frozen=True)

    source: Source
    body: str
    headers: dict[str, str] = Field(default_factory=dict)
    received_at: float  # unix seconds, ingress clock; starts the end-to-end latency clock
    origin: Origin = "live"
    key: str  # routing identifier picked at ingress, e.g. "zendesk_user_id:42"
    path: str = ""


def now_ts() -> float:
    return datetime.now(UTC).timestamp()


def encode_raw_batch(envelopes: list[RawEnvelope]) -> bytes:
    return orjson.dumps({"v": 1, "envelopes": [e.model_dump() for e in envelopes]})


def decode_raw_batch(data: bytes) -> list[RawEnvelope]:
    doc = orjson.loads(data)
    return [RawEnvelope.model_validate(e) for e in doc["envelopes"]]


def encode_event_batch(items: list[tuple[str, SupportEvent, float]]) -> bytes:
    """(customer_key, event, received_at) triples; received_at carries the latency clock.

    Each event is written as `model_dump(mode="json", exclude_defaults=True)` would write
    it (same keys and values; `event_to_dict` builds it by hand, several times faster)."""
    return orjson.dumps(
        {
            "v": 1,
            "items": [
                {"k": key, "t": received, "e": event_to_dict(ev)} for key, ev, received in items
            ],
        },
        default=json_default,
        option=JSON_OPTIONS,  # datetimes exactly as pydantic's JSON mode writes them
    )


def decode_event_batch(data: bytes) -> list[tuple[str, SupportEvent, float]]:
    doc = orjson.loads(data)
    return [(item["k"], event_from_dict(item["e"]), float(item["t"])) for item in doc["items"]]


# -- events without pydantic on the internal topic ---------------------------------------------
#
# `events.by-customer` carries only events that were validated when they were normalized, so
# decoding builds them without validating again; anything unexpected (an unknown key, a
# value of the wrong type) falls back to `SupportEvent.model_validate`, which accepts or
# rejects it exactly as before. Datetimes stay `datetime` objects in `event_to_dict`: orjson
# writes them (OPT_UTC_Z) as pydantic does.

_SOURCES = frozenset(get_args(Source))
_ORIGINS = frozenset(get_args(Origin))
_NO_IDENTITIES = Identities()


class _Unexpected(Exception):
    pass


def _nested(model: BaseModel, fields: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """`model_dump(exclude_defaults=True)` of a flat sub-model (tags tuples as lists)."""
    values = model.__dict__
    out: dict[str, Any] = {}
    for name, default in fields:
        value = values[name]
        if value is default or value == default:
            continue
        out[name] = list(value) if type(value) is tuple else value
    return out


def _defaults(cls: type[BaseModel]) -> tuple[tuple[str, Any], ...]:
    return tuple(
        (name, object() if field.is_required() else field.default)  # required: never equal
        for name, field in cls.model_fields.items()
    )


_IDENTITY_DEFAULTS = _defaults(Identities)
_TICKET_DEFAULTS = _defaults(TicketInfo)
_CONVERSATION_DEFAULTS = _defaults(ConversationInfo)
_RATING_DEFAULTS = _defaults(RatingInfo)


def event_to_dict(event: SupportEvent) -> dict[str, Any]:
    """The event as `model_dump(mode="json", exclude_defaults=True)` has it, except that
    datetimes are left as datetimes for orjson (OPT_UTC_Z) to write."""
    values = event.__dict__
    out: dict[str, Any] = {
        "event_id": values["event_id"],
        "source": values["source"],
        "kind": values["kind"],
        "occurred_at": values["occurred_at"],
        "received_at": values["received_at"],  # a default factory: never a default
    }
    identities = _nested(values["identities"], _IDENTITY_DEFAULTS)
    if identities:  # all fields at their defaults: the default Identities(), left out
        out["identities"] = identities
    for name, defaults in (
        ("ticket", _TICKET_DEFAULTS),
        ("conversation", _CONVERSATION_DEFAULTS),
        ("rating", _RATING_DEFAULTS),
    ):
        if values[name] is not None:
            out[name] = _nested(values[name], defaults)
    if values["attributes"]:
        out["attributes"] = values["attributes"]
    if values["origin"] != "live":
        out["origin"] = values["origin"]
    if values["author_id"] is not None:
        out["author_id"] = values["author_id"]
    return out


def event_from_dict(doc: dict[str, Any]) -> SupportEvent:
    """`SupportEvent.model_validate(doc)` for what `event_to_dict` wrote, without
    validating again; anything else goes through `model_validate`."""
    try:
        return _build_event(doc)
    except (_Unexpected, KeyError, TypeError, ValueError):
        return SupportEvent.model_validate(doc)


def _text(value: Any) -> str:
    if type(value) is not str:
        raise _Unexpected
    return value


def _text_or_none(value: Any) -> str | None:
    if value is not None and type(value) is not str:
        raise _Unexpected
    return value


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(_text(value))


def _time_or_none(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is not list or not all(type(t) is str for t in value):
        raise _Unexpected
    return tuple(value)


def _check_keys(doc: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if type(doc) is not dict or not doc.keys() <= allowed:
        raise _Unexpected
    return doc


_EVENT_KEYS = frozenset(SupportEvent.model_fields)
_IDENTITY_KEYS = frozenset(Identities.model_fields)
_TICKET_KEYS = frozenset(TicketInfo.model_fields)
_CONVERSATION_KEYS = frozenset(ConversationInfo.model_fields)
_RATING_KEYS = frozenset(RatingInfo.model_fields)


def _build_event(doc: Any) -> SupportEvent:
    doc = _check_keys(doc, _EVENT_KEYS)
    source, origin = doc["source"], doc.get("origin", "live")
    if source not in _SOURCES or origin not in _ORIGINS:
        raise _Unexpected
    attributes = doc.get("attributes", {})
    if type(attributes) is not dict:
        raise _Unexpected
    identities = doc.get("identities")
    ticket = doc.get("ticket")
    conversation = doc.get("conversation")
    rating = doc.get("rating")
    return construct(
        SupportEvent,
        {
            "event_id": _text(doc["event_id"]),
            "source": source,
            "kind": EventKind(_text(doc["kind"])),
            "occurred_at": _time(doc["occurred_at"]),
            "received_at": _time(doc["received_at"]),
            "identities": _NO_IDENTITIES if identities is None else _build_identities(identities),
            "ticket": None if ticket is None else _build_ticket(ticket),
            "conversation": None if conversation is None else _build_conversation(conversation),
            "rating": None if rating is None else _build_rating(rating),
            "attributes": attributes,
            "origin": origin,
            "author_id": _text_or_none(doc.get("author_id")),
        },
    )


def _build_identities(doc: Any) -> Identities:
    doc = _check_keys(doc, _IDENTITY_KEYS)
    return construct(
        Identities, {name: _text_or_none(doc.get(name)) for name, _ in _IDENTITY_DEFAULTS}
    )


def _build_ticket(doc: Any) -> TicketInfo:
    doc = _check_keys(doc, _TICKET_KEYS)
    get = doc.get
    return construct(
        TicketInfo,
        {
            "id": _text(doc["id"]),
            "status": _text_or_none(get("status")),
            "priority": _text_or_none(get("priority")),
            "reason": _text_or_none(get("reason")),
            "tags": _tags(get("tags")),
            "subject": _text_or_none(get("subject")),
            "channel": _text_or_none(get("channel")),
            "assignee": _text_or_none(get("assignee")),
            "group": _text_or_none(get("group")),
            "created_at": _time_or_none(get("created_at")),
            "updated_at": _time_or_none(get("updated_at")),
            "merged_into": _text_or_none(get("merged_into")),
        },
    )


def _build_conversation(doc: Any) -> ConversationInfo:
    doc = _check_keys(doc, _CONVERSATION_KEYS)
    get = doc.get
    return construct(
        ConversationInfo,
        {
            "id": _text(doc["id"]),
            "state": _text_or_none(get("state")),
            "priority": _text_or_none(get("priority")),
            "reason": _text_or_none(get("reason")),
            "tags": _tags(get("tags")),
            "admin_id": _text_or_none(get("admin_id")),
            "updated_at": _time_or_none(get("updated_at")),
            "created_at": _time_or_none(get("created_at")),
        },
    )


def _build_rating(doc: Any) -> RatingInfo:
    doc = _check_keys(doc, _RATING_KEYS)
    score, scale, comment = doc["score"], doc["scale"], doc.get("comment", False)
    if type(score) not in (str, int) or scale not in ("good_bad", "one_to_five"):
        raise _Unexpected
    if type(comment) is not bool:
        raise _Unexpected
    return construct(
        RatingInfo,
        {
            "score": score,
            "scale": scale,
            "ticket_id": _text_or_none(doc.get("ticket_id")),
            "comment": comment,
        },
    )


def encode_json_batch(items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"v": 1, "items": items})


def decode_json_batch(data: bytes) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = orjson.loads(data)["items"]
    return items


# -- transitions and actions -------------------------------------------------------------------


def encode_transition_batch(transitions: Sequence[Transition]) -> bytes:
    """`encode_json_batch([t.model_dump(mode="json") for t in transitions])`: the same
    bytes, ~5x faster (`Transition.json_fields`)."""
    return orjson.dumps(
        {"v": 1, "items": [t.json_fields() for t in transitions]},
        default=json_default,
        option=JSON_OPTIONS,
    )


def encode_action_batch(actions: list[Action]) -> bytes:
    """`encode_json_batch([a.model_dump(mode="json") for a in actions])`: the same bytes,
    ~3x faster (orjson writes the field values; nested values as pydantic would)."""
    return orjson.dumps(
        {"v": 1, "items": [_action_fields(a) for a in actions]},
        default=json_default,
        option=JSON_OPTIONS,
    )


def _action_fields(action: Action) -> dict[str, Any]:
    values = action.__dict__
    if len(values) != len(type(action).model_fields):  # only fields, as pydantic leaves it
        dumped: dict[str, Any] = action.model_dump(mode="json")
        return dumped
    return values


# -- merge commands on events.by-customer (streams/merging.py carries them out) ----------------


def encode_absorb(absorbed: str, survivor: str, event_id: str, at: datetime) -> bytes:
    return orjson.dumps(
        {"v": 1, "absorb": {"absorbed": absorbed, "survivor": survivor,
                            "event_id": event_id, "at": at.timestamp()}}
    )


def encode_merge_in(survivor: str, absorbed_state: bytes, event_id: str, at: float) -> bytes:
    return orjson.dumps(
        {"v": 1, "merge_in": {"survivor": survivor, "event_id": event_id, "at": at,
                              "state": base64.b64encode(absorbed_state).decode()}}
    )
