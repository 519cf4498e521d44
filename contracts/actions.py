"""Outbound actions (SPEC S6): what routing puts on `out.<sink>` and sinks deliver.

An `Action` is one intended effect on one platform for one person. Its `action_id` is
derived from the transition that caused it, so a replay of the same inputs produces the
same ids and the DeliveredStore recognises what was already done.

Payload convention for attribute updates (`one_off=False`, operation in
`ATTRIBUTE_OPERATIONS`): the field -> value map lives under `payload["attributes"]`; other
keys are request options. Coalescing and the last-written cache rely on this.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from contracts.jsonvalues import JSON_ENCODER, json_value

SinkName = Literal["customerio", "zendesk", "intercom", "webhook", "audiences", "warehouse"]
Priority = Literal["suppression", "enrichment", "analytics"]

# Lower rank is served first when tokens are scarce.
PRIORITY_RANK: dict[str, int] = {"suppression": 0, "enrichment": 1, "analytics": 2}

# Idempotent "set these fields" operations; everything else is delivered as-is, in order.
ATTRIBUTE_OPERATIONS: frozenset[str] = frozenset(
    {"identify", "update_attributes", "update_user", "update_contact", "update_organization",
     "update_company"}
)


def derive_action_id(transition_id: str, sink: str, operation: str, discriminator: str = "") -> str:
    """Stable id: the same transition, sink and operation always give the same id.

    `discriminator` separates several actions of one kind from one transition (e.g. two
    events). A hash keeps ids short and free of personal data (transition ids may not be).
    """
    raw = "\x1f".join((transition_id, sink, operation, discriminator)).encode()
    return f"{sink}:{operation}:{hashlib.sha256(raw).hexdigest()[:32]}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Action(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Built by routing from values it already holds (no validation on construction);
    `from_json`/`from_dict` validate what comes from a topic, a file or an operator."""

    action_id: str
    sink: SinkName
    operation: str
    customer_key: str
    person: str  # the identifier the platform knows the person by (id, email, cio_id...)
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    priority: Priority = "enrichment"
    # True for events/tickets/messages that must never be delivered twice; False for
    # idempotent attribute writes that may be coalesced and safely repeated.
    one_off: bool = False
    created_at: datetime = msgspec.field(default_factory=_utcnow)
    # Webhook receipt time of the causing event: start of the end-to-end latency SLO.
    received_at: datetime | None = None
    causing_event_id: str | None = None

    @property
    def priority_rank(self) -> int:
        return PRIORITY_RANK[self.priority]

    @property
    def is_attribute_update(self) -> bool:
        return not self.one_off and self.operation in ATTRIBUTE_OPERATIONS

    @property
    def attributes(self) -> dict[str, Any]:
        """The field map of an attribute update ({} when absent or not a dict)."""
        attrs = self.payload.get("attributes")
        return dict(attrs) if isinstance(attrs, dict) else {}

    def replace(self, **update: Any) -> Action:
        """A copy with `update` applied (values of the declared types)."""
        return msgspec.structs.replace(self, **update)

    def with_attributes(self, attributes: dict[str, Any]) -> Action:
        return msgspec.structs.replace(self, payload={**self.payload, "attributes": attributes})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form as plain values (times as ISO 8601 strings)."""
        doc: dict[str, Any] = msgspec.to_builtins(self, enc_hook=json_value)
        return doc

    def to_json(self) -> bytes:
        return JSON_ENCODER.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> Action:
        return _DECODER.decode(data)

    @classmethod
    def from_dict(cls, doc: Any) -> Action:
        """A validated action from its JSON form (msgspec.ValidationError when it is not one)."""
        return msgspec.convert(doc, cls)

    @classmethod
    def for_transition(
        cls,
        transition_id: str,
        *,
        sink: SinkName,
        operation: str,
        discriminator: str = "",
        **fields: Any,
    ) -> Action:
        """Build an action whose id is derived from `transition_id` (the usual path)."""
        return cls(
            action_id=derive_action_id(transition_id, sink, operation, discriminator),
            sink=sink,
            operation=operation,
            **fields,
        )


_DECODER = msgspec.json.Decoder(Action)
