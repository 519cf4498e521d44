"""`SupportState` bytes (what the state table and its changelog hold).

Version 2, written by `encode_state`:

    b"\\x02" | count: 4 bytes big-endian | count x 6 raw digest bytes | orjson document

The document has one-letter keys, leaves out every field at its default, writes tickets,
notes, identities and the csat as positional lists (trailing defaults dropped) and times
as integer unix seconds (UTC, whole seconds; any other time as an ISO-8601 string). The
processed-ids window goes raw after the fixed header rather than as base64 in the JSON
(1,200 bytes instead of 1,600 for a full window of 200). Decoding builds the models
without validation: the bytes are our own output.

`decode_state` also reads version 1 (the first byte is `{`): a JSON object of every field
not at its default, by name (`encode_state_v1`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson
from pydantic_core import to_jsonable_python

from contracts.events import IDENTITY_FIELDS, NO_IDENTITIES, Identities
from streams.state.model import (
    Consent,
    Csat,
    ProcessedIds,
    ProfileField,
    SupportState,
    TicketState,
    TransitionNote,
    ticket_key,
)

VERSION = b"\x02"
_HEADER = 5  # version byte + 4-byte digest count
_ZERO = timedelta(0)
_NO_CONSENT = Consent()
_FLAGS = ("high_priority_open", "refund_risk", "recent_ticket")  # bit 0, 1, 2 of "f"

# Every SupportState field this codec writes (tests check it against the model).
FIELDS = frozenset(
    {
        "customer_key", "identities", "tickets", "csat", "consent", "segments", "profile",
        "support_state", "last_resolved_at", "last_low_csat_at", "last_email_open_at", "as_of",
        "seq", "processed_ids", "holdout", "merged_into", "other_emails", "recent_transitions",
        "parked", *_FLAGS,
    }
)


def _time(moment: datetime) -> int | str:
    if not moment.microsecond and (moment.tzinfo is UTC or moment.utcoffset() == _ZERO):
        return int(moment.timestamp())
    return moment.isoformat()  # sub-second, another offset or naive: kept exactly


def _time_or_none(moment: datetime | None) -> int | str | None:
    return None if moment is None else _time(moment)


def _parse(value: int | str) -> datetime:
    if type(value) is int:
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(value)  # type: ignore[arg-type]


def _parse_or_none(value: int | str | None) -> datetime | None:
    return None if value is None else _parse(value)


def _trim(values: list[Any]) -> list[Any]:
    while values and values[-1] is None:
        values.pop()
    return values


def _ticket(t: TicketState) -> list[Any]:
    return _trim(
        [
            t.source, t.id, t.status, _time(t.opened_at), _time(t.updated_at),
            t.priority, t.reason, list(t.tags) if t.tags else None,
            _time_or_none(t.closed_at), t.closed_reason, t.merged_into, t.assignee,
        ]
    )


def _note(n: TransitionNote) -> list[Any]:
    return _trim([_time(n.at), n.kind, n.reason, n.event, n.old, n.new, n.ticket])


def encode_state(state: SupportState) -> bytes:
    doc: dict[str, Any] = {"k": state.customer_key}
    identities = _trim(list(msgspec.structs.astuple(state.identities)))
    if identities:
        doc["i"] = identities
    if state.tickets:
        doc["t"] = [_ticket(t) for t in state.tickets.values()]
    csat = state.csat
    if csat is not None:
        doc["c"] = [csat.score, csat.scale, _time(csat.at), csat.comment, csat.low, csat.ticket_id]
    if state.consent.unsubscribed:
        doc["u"] = {flag: _time(at) for flag, at in state.consent.unsubscribed.items()}
    if state.consent.subscribed:
        doc["y"] = {flag: _time(at) for flag, at in state.consent.subscribed.items()}
    if state.segments:
        doc["g"] = list(state.segments)
    if state.profile:
        doc["p"] = {
            name: [field.value, field.source, _time(field.at)]
            for name, field in state.profile.items()
        }
    if state.support_state != "clear":
        doc["s"] = state.support_state
    if state.last_resolved_at is not None:
        doc["r"] = _time(state.last_resolved_at)
    if state.last_low_csat_at is not None:
        doc["l"] = _time(state.last_low_csat_at)
    if state.last_email_open_at is not None:
        doc["e"] = _time(state.last_email_open_at)
    if state.as_of is not None:
        doc["a"] = _time(state.as_of)
    if state.seq:
        doc["q"] = state.seq
    if state.holdout:
        doc["h"] = 1
    if state.merged_into is not None:
        doc["m"] = state.merged_into
    if state.other_emails:
        doc["x"] = list(state.other_emails)
    if state.recent_transitions:
        doc["n"] = [_note(n) for n in state.recent_transitions]
    if state.parked:
        doc["w"] = list(state.parked)
    flags = state.high_priority_open | state.refund_risk << 1 | state.recent_ticket << 2
    if flags:
        doc["f"] = flags
    ids = state.processed_ids.raw
    head = VERSION + (len(ids) // 6).to_bytes(4, "big")
    # Profile values are whatever the platforms sent: anything JSON can carry.
    return head + ids + orjson.dumps(doc, default=to_jsonable_python, option=orjson.OPT_UTC_Z)


def decode_state(data: bytes | str) -> SupportState:
    if isinstance(data, str) or data[:1] != VERSION:
        return decode_state_v1(data)
    end = _HEADER + int.from_bytes(data[1:_HEADER], "big") * 6
    ids = ProcessedIds(data[_HEADER:end])
    doc = orjson.loads(data[end:])
    get = doc.get
    identities = get("i")
    tickets: dict[str, TicketState] = {}
    for values in get("t", ()):
        ticket = _decode_ticket(values)
        tickets[ticket_key(ticket.source, ticket.id)] = ticket
    csat = get("c")
    consent = get("u")
    subscribed = get("y")
    profile = get("p")
    notes = get("n")
    flags = get("f", 0)
    return SupportState(
        customer_key=doc["k"],
        identities=NO_IDENTITIES
        if identities is None
        else Identities(**_fill(IDENTITY_FIELDS, identities)),
        tickets=tickets,
        csat=None if csat is None else _decode_csat(csat),
        consent=_NO_CONSENT
        if consent is None and subscribed is None
        else Consent(
            unsubscribed={f: _parse(t) for f, t in (consent or {}).items()},
            subscribed={f: _parse(t) for f, t in (subscribed or {}).items()},
        ),
        segments=tuple(get("g", ())),
        profile={}
        if profile is None
        else {
            name: ProfileField(value=value, source=source, at=_parse(at))
            for name, (value, source, at) in profile.items()
        },
        support_state=get("s", "clear"),
        last_resolved_at=_parse_or_none(get("r")),
        last_low_csat_at=_parse_or_none(get("l")),
        last_email_open_at=_parse_or_none(get("e")),
        as_of=_parse_or_none(get("a")),
        seq=get("q", 0),
        processed_ids=ids,
        holdout=bool(get("h", 0)),
        merged_into=get("m"),
        other_emails=tuple(get("x", ())),
        recent_transitions=() if notes is None else tuple(_decode_note(n) for n in notes),
        parked=tuple(get("w", ())),
        high_priority_open=bool(flags & 1),
        refund_risk=bool(flags & 2),
        recent_ticket=bool(flags & 4),
    )


def _fill(names: tuple[str, ...], values: list[Any]) -> dict[str, Any]:
    return {name: values[i] if i < len(values) else None for i, name in enumerate(names)}


_TICKET_SLOTS = 12


def _decode_ticket(values: list[Any]) -> TicketState:
    v = values + [None] * (_TICKET_SLOTS - len(values))
    return TicketState(
        source=v[0],
        id=v[1],
        status=v[2],
        priority=v[5],
        reason=v[6],
        tags=() if v[7] is None else tuple(v[7]),
        opened_at=_parse(v[3]),
        updated_at=_parse(v[4]),
        closed_at=_parse_or_none(v[8]),
        closed_reason=v[9],
        merged_into=v[10],
        assignee=v[11],
    )


def _decode_csat(values: list[Any]) -> Csat:
    score, scale, at, comment, low, ticket_id = values
    return Csat(
        score=score, scale=scale, at=_parse(at), comment=comment, low=low, ticket_id=ticket_id
    )


_NOTE_SLOTS = 7


def _decode_note(values: list[Any]) -> TransitionNote:
    v = values + [None] * (_NOTE_SLOTS - len(values))
    return TransitionNote(
        at=_parse(v[0]), kind=v[1], reason=v[2], event=v[3], old=v[4], new=v[5], ticket=v[6]
    )


# -- version 1: the all-JSON document, field names as in the model ---------------------------


def _v1_encode_hook(value: Any) -> Any:
    if isinstance(value, ProcessedIds):
        return "".join(value)  # fixed-width digests: one string, no quotes or commas
    return to_jsonable_python(value)


def _v1_decode_hook(kind: type, value: Any) -> Any:
    if kind is ProcessedIds:
        return ProcessedIds.parse(value)
    raise NotImplementedError(f"no decoder for {kind!r}")


_V1_ENCODER = msgspec.json.Encoder(enc_hook=_v1_encode_hook)
_V1_DECODER = msgspec.json.Decoder(SupportState, dec_hook=_v1_decode_hook)


def encode_state_v1(state: SupportState) -> bytes:
    """Version 1: every field that is not at its default, by name; notes as lists."""
    doc = {
        name: value
        for name, default in _V1_DEFAULTS
        for value in (getattr(state, name),)
        if value != default
    }
    return _V1_ENCODER.encode(doc)


def decode_state_v1(data: bytes | str) -> SupportState:
    try:
        return _V1_DECODER.decode(data)
    except msgspec.ValidationError:
        # The first version-1 states wrote transition notes as objects, not lists.
        doc = orjson.loads(data)
        notes = doc.get("recent_transitions")
        if isinstance(notes, list):
            doc["recent_transitions"] = [
                [n.get(name) for name in _NOTE_FIELDS] if isinstance(n, dict) else n
                for n in notes
            ]
        return msgspec.convert(doc, SupportState, dec_hook=_v1_decode_hook)


_NOTE_FIELDS = TransitionNote.__struct_fields__


_V1_DEFAULTS: tuple[tuple[str, Any], ...] = tuple(
    (name, getattr(SupportState(customer_key=""), name) if name != "customer_key" else None)
    for name in SupportState.__struct_fields__
)
