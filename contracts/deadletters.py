"""Dead letters: what could not be processed or delivered, on the `dlq` topic (SPEC S7).

One tagged shape, two kinds (the `kind` field says which):

- `StageDeadLetter` ("stage"): bad input a stream stage set aside (normalize, identity,
  apply, route, expire), with the record it could not process;
- `SinkDeadLetter` ("sink"): an action a sink could not deliver, with the action itself
  (after coalescing), every action id it covered, the error class, HTTP status, response
  body (truncated), the attempt count and the first/last attempt times.

`decode_dead_letter` reads either, and the letters written before the tag existed (a sink
letter is the one with an `action`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
import orjson

from contracts.actions import Action
from contracts.jsonvalues import JSON_ENCODER
from contracts.records import now_ts

SinkReason = Literal[
    "client_error",  # non-retriable 4xx
    "conflict",  # 409 the sink did not resolve
    "deadline_exceeded",  # retries exhausted
    "unexpected_error",  # a bug in a connector: recorded instead of crashing the worker
    "misrouted",  # the action was for another sink
]


class _Letter(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    def to_json(self) -> bytes:
        return JSON_ENCODER.encode(self)


class StageDeadLetter(_Letter, frozen=True, kw_only=True, tag="stage"):
    stage: str  # normalize | identity | apply | route | expire
    reason: str
    source: str | None = None
    detail: str = ""
    record: dict[str, Any] = msgspec.field(default_factory=dict)
    at: float = msgspec.field(default_factory=now_ts)


class SinkDeadLetter(_Letter, frozen=True, kw_only=True, tag="sink", forbid_unknown_fields=True):
    reason: SinkReason
    sink: str
    action: Action
    covered_action_ids: list[str] = msgspec.field(default_factory=list)
    error_class: str
    error_message: str = ""
    status: int | None = None
    response_body: str | None = None
    attempts: int = 0
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None

    @classmethod
    def from_json(cls, data: bytes | str) -> SinkDeadLetter:
        letter = decode_dead_letter(data)
        if not isinstance(letter, SinkDeadLetter):
            raise msgspec.ValidationError("a stage dead letter, not a sink one")
        return letter


DeadLetter = StageDeadLetter | SinkDeadLetter
_DECODER: msgspec.json.Decoder[DeadLetter] = msgspec.json.Decoder(DeadLetter)


def decode_dead_letter(data: bytes | str) -> DeadLetter:
    """A `dlq` record (`msgspec.ValidationError` when it is no dead letter)."""
    try:
        return _DECODER.decode(data)
    except msgspec.ValidationError:
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or "kind" in doc:
            raise
    # Written before letters were tagged.
    if "action" in doc and "sink" in doc:
        return msgspec.convert(doc, SinkDeadLetter, strict=False)
    return msgspec.convert(doc, StageDeadLetter, strict=False)
