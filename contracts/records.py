"""Wire formats of the records on supportsync's topics.

Every topic carries *batches*: one Kafka record holds a list of items that share a partition.
Faust pays ~230 µs per Kafka record before any work (STACK-NOTES), so packing many webhook
envelopes / events / actions into one record is what lets the pipeline keep up with a bare
aiokafka loop. Batches never mix partitions, so per-customer order is kept.

- raw.*               batches of `RawEnvelope` (body bytes kept verbatim: the record of truth),
                      in a binary frame (see `encode_raw_batch`); the first JSON form still decodes
- events.by-customer  `EventBatch` of (customer_key, SupportEvent)
- transitions         `TransitionBatch` (JSON objects produced by the state machine)
- out.<sink>          `ActionBatch` (JSON objects: contracts.actions.Action)
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from msgspec.structs import force_setattr

from contracts.actions import Action
from contracts.events import Checked, Origin, Source, SupportEvent, check_source_and_origin
from contracts.jsonvalues import JSON_ENCODER
from contracts.transitions import Transition


class RawEnvelope(Checked, frozen=True, kw_only=True):
    """One accepted inbound request, as received: `body` is its bytes, verbatim.

    `defaults` is a JSON object the body's fields are laid over when it is normalized (a
    /v1/batch's shared `context`/`integrations`): messages of one batch share the same bytes,
    written once per raw record instead of once per message. A body or defaults given as
    text is kept as its UTF-8 bytes."""

    source: Source
    body: bytes
    defaults: bytes = b""
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    received_at: float  # unix seconds, ingress clock; starts the end-to-end latency clock
    origin: Origin = "live"
    key: str  # routing identifier picked at ingress, e.g. "zendesk_user_id:42"
    path: str = ""

    def __post_init__(self) -> None:
        if type(self.body) is not bytes:
            force_setattr(self, "body", _as_bytes("body", self.body))
        if type(self.defaults) is not bytes:
            force_setattr(self, "defaults", _as_bytes("defaults", self.defaults))
        if type(self.received_at) is not float:
            if not isinstance(self.received_at, int | float) or isinstance(self.received_at, bool):
                raise TypeError("received_at: expected unix seconds")
            force_setattr(self, "received_at", float(self.received_at))
        check_source_and_origin(self.source, self.origin)


def _as_bytes(name: str, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{name}: expected bytes or text, got {type(value).__name__}")


def now_ts() -> float:
    return datetime.now(UTC).timestamp()


#: Raw records in the binary frame start with this (a JSON record starts with `{`).
RAW_FRAME_MAGIC = b"\x00SR2"
_FRAME_HEAD = struct.Struct(">4sI")  # magic, length of the JSON index that follows
#: Bytes a raw record takes beyond its envelopes' `raw_size`: the frame header and index braces.
RAW_FRAME_OVERHEAD = _FRAME_HEAD.size + 16


def _index_entry(envelope: RawEnvelope, shared: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "s": envelope.source, "h": envelope.headers, "t": envelope.received_at,
        "k": envelope.key, "p": envelope.path, "b": len(envelope.body),
    }
    if envelope.origin != "live":
        entry["o"] = envelope.origin
    if shared >= 0:
        entry["d"] = shared
    return entry


def raw_size(envelope: RawEnvelope) -> int:
    """An upper bound of the bytes `envelope` adds to a raw record (its defaults counted in
    full, though a record holds each distinct defaults blob once)."""
    return (
        len(orjson.dumps(_index_entry(envelope, 0))) + len(envelope.body) + len(envelope.defaults)
        + 24  # separators, a longer defaults index, the defaults blob's length in the index
    )


def encode_raw_batch(envelopes: list[RawEnvelope]) -> bytes:
    """One raw record: a JSON index of the envelopes' metadata, then the bodies as raw bytes.
    Bodies are neither escaped nor re-encoded (a quote-heavy body stays its size), and
    identical `defaults` are stored once per record."""
    shared: dict[bytes, int] = {}
    entries = []
    for envelope in envelopes:
        index = -1
        if envelope.defaults:
            index = shared.setdefault(envelope.defaults, len(shared))
        entries.append(_index_entry(envelope, index))
    index_json = orjson.dumps({"e": entries, "d": [len(b) for b in shared]})
    return b"".join(
        [_FRAME_HEAD.pack(RAW_FRAME_MAGIC, len(index_json)), index_json, *shared,
         *(e.body for e in envelopes)]
    )


def decode_raw_batch(data: bytes) -> list[RawEnvelope]:
    return [raw_envelope_from(item) for item in raw_batch_items(data)]


def raw_batch_items(data: bytes) -> list[Any]:
    """The undecoded envelopes of one raw record (each validated by `raw_envelope_from`, so
    that one bad envelope does not cost the others). Reads the binary frame and the JSON
    records written before it (`{"v": 1, "envelopes": [...]}`, bodies as text)."""
    if not data.startswith(RAW_FRAME_MAGIC):
        items: list[Any] = orjson.loads(data)["envelopes"]
        return items
    _, index_len = _FRAME_HEAD.unpack_from(data)
    at = _FRAME_HEAD.size + index_len
    index = orjson.loads(data[_FRAME_HEAD.size:at])
    shared: list[bytes] = []
    for size in index["d"]:
        shared.append(data[at:at + size])
        at += size
    out: list[Any] = []
    for entry in index["e"]:
        body = data[at:at + entry["b"]]
        at += entry["b"]
        d = entry.get("d", -1)
        out.append({
            "source": entry["s"], "body": body, "headers": entry["h"],
            "received_at": entry["t"], "origin": entry.get("o", "live"), "key": entry["k"],
            "path": entry["p"], "defaults": shared[d] if d >= 0 else b"",
        })
    if at != len(data):
        raise ValueError(f"raw record frame: {len(data) - at} bytes unaccounted for")
    return out


def raw_envelope_from(item: Any) -> RawEnvelope:
    """An envelope from `raw_batch_items` or `envelope_record` (text or base64 body)."""
    if isinstance(item, dict) and ("body_b64" in item or "defaults_b64" in item):
        item = dict(item)
        for name in ("body", "defaults"):
            if f"{name}_b64" in item:
                item[name] = base64.b64decode(item.pop(f"{name}_b64"))
    if isinstance(item, dict):
        item = {k: v.encode() if k in ("body", "defaults") and isinstance(v, str) else v
                for k, v in item.items()}
    return msgspec.convert(item, RawEnvelope, strict=False)


#: Bodies up to this size are copied into a dead letter; larger ones are described (size,
#: digest) and stay on their raw topic, so that a dead letter always fits in one record.
DEAD_LETTER_BODY_BYTES = 128 * 1024


def envelope_record(envelope: RawEnvelope) -> dict[str, Any]:
    """The envelope as a JSON object (a dead letter's record); `raw_envelope_from` reads it.
    Bodies are kept as text when they are UTF-8, else base64."""
    doc: dict[str, Any] = {
        name: getattr(envelope, name) for name in RawEnvelope.__struct_fields__
        if name not in ("body", "defaults")
    }
    for name in ("body", "defaults"):
        value: bytes = getattr(envelope, name)
        if name == "defaults" and not value:
            continue
        if len(value) > DEAD_LETTER_BODY_BYTES:
            doc[f"{name}_omitted"] = {
                "bytes": len(value), "sha256": hashlib.sha256(value).hexdigest(),
            }
            continue
        try:
            doc[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            doc[f"{name}_b64"] = base64.b64encode(value).decode()
    return doc


def encode_event_batch(items: list[tuple[str, SupportEvent, float]]) -> bytes:
    """(customer_key, event, received_at) triples; received_at carries the latency clock.
    Events are written by msgspec, default values left out."""
    return JSON_ENCODER.encode(
        {"v": 1, "items": [{"k": key, "t": received, "e": ev} for key, ev, received in items]}
    )


def decode_event_batch(data: bytes) -> list[tuple[str, SupportEvent, float]]:
    record = decode_by_customer(data)
    if not isinstance(record, EventItems):
        raise ValueError(f"not an event batch: {type(record).__name__}")
    return record.items


# -- events.by-customer: one record decoded once ------------------------------------------------
#
# Four records share the topic: an event batch, and the absorb, merge_in and tick commands
# (streams/merging.py, the apply agent's timer). `decode_by_customer` parses a record once,
# with msgspec against the wire types below (the events as `SupportEvent` itself), and hands
# back one of the shapes. A record the strict types refuse (an older or hand-written
# encoding: integer times, integer ids) is decoded again leniently, each event through
# `SupportEvent.from_dict`, which also takes unix-second times and integer ids.

RoutedEvent = tuple[str, SupportEvent, float]  # customer key, event, webhook receipt time


@dataclass(frozen=True)
class EventItems:
    items: list[RoutedEvent]


@dataclass(frozen=True)
class Absorb:
    command: dict[str, Any]


@dataclass(frozen=True)
class MergeIn:
    command: dict[str, Any]


@dataclass(frozen=True)
class Tick:
    at: float  # unix seconds


@dataclass(frozen=True)
class Reroute:
    """A route-stage dead letter sent back (`dlq redrive`): route its transition again with
    the customer's current state."""

    command: dict[str, Any]


@dataclass(frozen=True)
class Erase:
    """Erase a customer (`supportsync forget`): its state, its identity links (`links`, the
    identity-table keys), its last-sent entries and its delivered action ids (`delivered`),
    on the partition that owns it."""

    customer_key: str
    erased_at: float  # unix seconds
    links: tuple[str, ...] = ()
    delivered: tuple[str, ...] = ()


ByCustomerRecord = EventItems | Absorb | MergeIn | Tick | Reroute | Erase


class _ItemWire(msgspec.Struct):
    k: str
    t: float
    e: SupportEvent


class _ByCustomerWire(msgspec.Struct):
    v: int = 1
    items: list[_ItemWire] | None = None
    absorb: dict[str, Any] | None = None
    merge_in: dict[str, Any] | None = None
    tick: float | None = None
    reroute: dict[str, Any] | None = None
    erase: dict[str, Any] | None = None


_BY_CUSTOMER = msgspec.json.Decoder(_ByCustomerWire)


def decode_by_customer(data: bytes) -> ByCustomerRecord:
    """One `events.by-customer` record, parsed once."""
    try:
        wire = _BY_CUSTOMER.decode(data)
    except msgspec.ValidationError:
        return _decode_leniently(data)
    if wire.items is not None:
        return EventItems([(i.k, i.e, i.t) for i in wire.items])
    return _command(wire.absorb, wire.merge_in, wire.tick, wire.reroute, wire.erase)


def _command(
    absorb: dict[str, Any] | None,
    merge_in: dict[str, Any] | None,
    tick: float | None,
    reroute: dict[str, Any] | None = None,
    erase: dict[str, Any] | None = None,
) -> ByCustomerRecord:
    if absorb is not None:
        return Absorb(absorb)
    if merge_in is not None:
        return MergeIn(merge_in)
    if tick is not None:
        return Tick(float(tick))
    if reroute is not None:
        return Reroute(reroute)
    if erase is not None:
        return Erase(
            str(erase["customer_key"]), float(erase["erased_at"]),
            tuple(str(k) for k in erase.get("links", ())),
            tuple(str(k) for k in erase.get("delivered", ())),
        )
    raise ValueError(
        "an events.by-customer record with no items, absorb, merge_in, tick, reroute or erase"
    )


def _decode_leniently(data: bytes) -> ByCustomerRecord:
    doc = orjson.loads(data)
    if "items" in doc:
        return EventItems(
            [(item["k"], event_from_dict(item["e"]), float(item["t"])) for item in doc["items"]]
        )
    return _command(
        doc.get("absorb"), doc.get("merge_in"), doc.get("tick"), doc.get("reroute"),
        doc.get("erase"),
    )


def event_from_dict(doc: dict[str, Any]) -> SupportEvent:
    """An event from its JSON form, validated (`msgspec.ValidationError` when it is none)."""
    return SupportEvent.from_dict(doc)


def encode_tick(at: float) -> bytes:
    return orjson.dumps({"v": 1, "tick": at})


def encode_erase(command: Erase) -> bytes:
    """An `events.by-customer` record that erases `command.customer_key`."""
    return orjson.dumps({"v": 1, "erase": {
        "customer_key": command.customer_key, "erased_at": command.erased_at,
        "links": list(command.links), "delivered": list(command.delivered),
    }})


def encode_reroute(transition: dict[str, Any]) -> bytes:
    """A route dead letter's transition, sent back to its customer's partition."""
    return orjson.dumps({"v": 1, "reroute": {"transition": transition}})


def encode_json_batch(items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"v": 1, "items": items})


def decode_json_batch(data: bytes) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = orjson.loads(data)["items"]
    return items


# -- transitions and actions -------------------------------------------------------------------


def encode_transition_batch(transitions: Sequence[Transition]) -> bytes:
    """A `transitions` record: `{"v": 1, "items": [<transition JSON>, ...]}` (the same bytes
    as orjson over each `Transition.json_fields()`)."""
    return JSON_ENCODER.encode({"v": 1, "items": transitions})


def encode_action_batch(actions: list[Action]) -> bytes:
    """An `out.<sink>` record: `{"v": 1, "items": [<action JSON>, ...]}`."""
    return JSON_ENCODER.encode({"v": 1, "items": actions})


class _ActionBatchWire(msgspec.Struct):
    items: list[Action]
    v: int = 1


_ACTION_BATCH = msgspec.json.Decoder(_ActionBatchWire)


def decode_action_batch(data: bytes) -> list[Action]:
    """An `out.<sink>` record, parsed once into actions. A record the strict types refuse
    (an older or hand-written encoding: a number as a string, say) is converted leniently,
    action by action; what even that refuses raises `msgspec.ValidationError`."""
    try:
        return _ACTION_BATCH.decode(data).items
    except msgspec.ValidationError:
        items = orjson.loads(data)["items"]
        return [msgspec.convert(a, Action, strict=False) for a in items]


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
