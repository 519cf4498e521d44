"""The Segment-spec HTTP API on the way in: /v1/identify|track|group|page|screen|alias|batch
(SPEC S2.1, R19). A single call is answered exactly as the same message inside /v1/batch.

What Segment's and Customer.io Data Pipelines' HTTP API define, as far as ingress needs it:
- Auth: the write key as the HTTP basic-auth user (password empty/ignored); `Authorization:
  Bearer <key>` (what customerio-cdp-analytics sends for `pk_…`/`sk_…` keys); or, with no
  Authorization header, `writeKey` in the JSON body. Compared in constant time.
- Bodies may be gzip (`Content-Encoding: gzip`; aiohttp inflates them, limits apply to the
  inflated bytes). Limits: 32 KB per single call and per message in a batch, 500 KB per batch.
- Answers: 200 `{"success": true}`; 400/401 `{"success": false, "code", "message"}` — the
  shape both official Python clients read.

A batch holds messages about many people, so each message becomes its own raw record, keyed by
its own person so per-customer order holds. The stored body is the message re-encoded with its
`type` made explicit (from the path for single calls) and `writeKey` removed (a secret never
goes on a topic); a batch's `context`/`integrations` travel once per raw record as the
envelopes' shared `defaults`, laid under each message when it is normalized.
Routing key: `external_id:<userId>`, else `email:<traits.email>`, else `anonymous_id:<id>`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from connectors.inbound import BadPayload, PayloadTooLarge, Unauthorized
from connectors.inbound.source import any_signature_matches, parse_object, secret_list
from contracts.events import Source, normalize_email

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = frozenset({"identify", "track", "group", "page", "screen", "alias"})
PATHS = {f"/v1/{kind}": kind for kind in sorted(TYPES)} | {"/v1/batch": "batch"}


@dataclass(frozen=True)
class AcceptedMessage:
    """One verified message: its routing key, the body to store and its message id.

    `defaults` holds the batch-level fields the body is laid over (the same bytes object for
    every message of one batch: stored once per raw record, not copied into each body)."""

    key: str
    body: bytes
    event_id: str
    defaults: bytes = b""


def _id(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def message_email(message: dict[str, Any]) -> str | None:
    """The person's email: `traits.email`, else `context.traits.email`. A group call's
    `traits` describe the organization, so only its `context.traits` can name the person."""
    holders = (message.get("context"),) if message.get("type") == "group" else (
        message, message.get("context"))
    for holder in holders:
        traits = holder.get("traits") if isinstance(holder, dict) else None
        if isinstance(traits, dict) and isinstance(traits.get("email"), str):
            if email := normalize_email(traits["email"]):
                return email
    return None


def routing_key(message: dict[str, Any]) -> str:
    if user_id := _id(message.get("userId")):
        return f"external_id:{user_id}"
    if email := message_email(message):
        return f"email:{email}"
    if anonymous_id := _id(message.get("anonymousId")):
        return f"anonymous_id:{anonymous_id}"
    raise BadPayload(
        "a message needs userId, anonymousId or traits.email (context.traits.email for group)",
        reason="no_key",
    )


def _check_message(message: dict[str, Any]) -> None:
    kind = message["type"]
    if kind == "track" and not (isinstance(message.get("event"), str) and message["event"]):
        raise BadPayload("track needs an event name", reason="no_event")
    if kind == "group" and _id(message.get("groupId")) is None:
        raise BadPayload("group needs a groupId", reason="no_group_id")
    for name in ("traits", "properties", "context"):
        if name in message and not isinstance(message[name], dict | None):
            raise BadPayload(f"{name} must be an object", reason="bad_field")


class PipelinesAPI:
    source: Source = "pipelines"

    def __init__(self, write_keys: str | Sequence[str]) -> None:
        self._keys = secret_list(write_keys)  # several while rotating

    def limit_for(self, path: str) -> int:
        return MAX_BATCH_BYTES if PATHS.get(path) == "batch" else MAX_CALL_BYTES

    def _authorized(self, headers: Mapping[str, str]) -> bool | None:
        """True/False for a present Authorization header, None when there is none."""
        header = headers.get("Authorization")
        if not header:
            return None
        if not header.isascii():  # bytes that are not even UTF-8 arrive as surrogates
            return False
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return any_signature_matches(self._keys, value.strip())
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except ValueError:  # not base64 (binascii.Error), or not UTF-8 once decoded
            return False
        return any_signature_matches(self._keys, decoded.partition(":")[0])

    def accept_messages(
        self, path: str, body: bytes, headers: Mapping[str, str], now: float
    ) -> list[AcceptedMessage]:
        """Verify the call and split it into messages; raise an InboundError to reject."""
        call = PATHS.get(path)
        if call is None:
            raise BadPayload(f"unknown endpoint {path}", reason="unknown_endpoint")
        authorized = self._authorized(headers)
        if authorized is False:
            raise Unauthorized("invalid write key")
        if len(body) > self.limit_for(path):
            raise PayloadTooLarge(f"body over {self.limit_for(path)} bytes")
        doc = parse_object(body)
        if authorized is None:
            given = doc.get("writeKey")
            if not (isinstance(given, str) and any_signature_matches(self._keys, given.strip())):
                raise Unauthorized("missing or invalid write key")
        if call != "batch":
            return [self._message({**doc, "type": call}, {}, b"")]
        batch = doc.get("batch")
        if not isinstance(batch, list):
            raise BadPayload("batch must be a list of messages", reason="bad_batch")
        defaults = {k: doc[k] for k in ("context", "integrations") if isinstance(doc.get(k), dict)}
        shared = orjson.dumps(defaults) if defaults else b""
        out: list[AcceptedMessage] = []
        for index, message in enumerate(batch):
            if not isinstance(message, dict) or message.get("type") not in TYPES:
                raise BadPayload(
                    f"batch[{index}] is not a message of a known type", reason="bad_message"
                )
            out.append(self._message(message, defaults, shared))
        return out

    def _message(
        self, message: dict[str, Any], defaults: dict[str, Any], shared: bytes
    ) -> AcceptedMessage:
        _check_message(message)
        key = routing_key(message)
        stored = {k: v for k, v in message.items() if k != "writeKey"}
        body = orjson.dumps(stored)
        if len(body) > MAX_CALL_BYTES:
            raise PayloadTooLarge(f"a message over {MAX_CALL_BYTES} bytes")
        event_id = _id(message.get("messageId")) or (
            # the digest of the message as normalized (fields over the batch's defaults)
            "pipelines:" + hashlib.sha256(orjson.dumps({**defaults, **stored})).hexdigest()[:32]
        )
        return AcceptedMessage(key=key, body=body, event_id=event_id, defaults=shared)
