"""Transitions: the derived facts the state machine emits (SPEC S4), as routing and the
`transitions` topic see them.

Every transition carries what routing needs to act without reading the state: the
customer's identities, a consent snapshot (exports are gated on it), the holdout flag
and the exported attributes after the change. `transition_id` is a hash of
(customer_key, causing_event_id, kind, discriminator), so replaying the same inputs
gives the same ids and sinks can deduplicate on them. The state machine builds them
(streams/state/transitions.py).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

import msgspec
import orjson

from contracts.events import Identities
from contracts.jsonvalues import JSON_OPTIONS, json_value

TransitionKind = Literal[
    "support_state_changed",
    "attributes_changed",
    "ticket_opened",
    "ticket_resolved",
    "csat_received",
    "consent_changed",
    "segments_changed",
    "profile_changed",
    "states_merged",
    "engagement_aged",  # a day passed since the last email open (R3)
    # a known customer gained an identifier (details["added"]: its kinds), so a platform
    # that could not be addressed before can be brought up to date (R1)
    "identities_linked",
]


class ConsentSnapshot(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """What exports may use, carried on every transition (R15/R16/R17 gate on it)."""

    email: bool = True
    sms: bool = True
    ads: bool = True
    unsubscribed: tuple[str, ...] = ()  # "platform:channel" flags currently set
    #: channels someone explicitly opted in to (a `subscribed` event) and still allows:
    #: what opt-in channels (R17's ads by default) need
    opted_in: tuple[str, ...] = ()

    def opted_in_to(self, channel: str) -> bool:
        return channel in self.opted_in

    def allows(self, channel: str) -> bool:
        return not any(flag.endswith(f":{channel}") for flag in self.unsubscribed)

    def unsubscribed_on(self, channel: str) -> set[str]:
        """The platforms holding an unsubscribe from `channel`."""
        return {flag.split(":", 1)[0] for flag in self.unsubscribed
                if flag.endswith(f":{channel}")}


def transition_id(customer_key: str, causing_event_id: str, kind: str, discriminator: str) -> str:
    joined = "\x1f".join((customer_key, causing_event_id, kind, discriminator))
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


class Transition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """One derived fact, as routing and the transitions topic see it (a frozen struct:
    the machine builds a few per event without validating what it already validated)."""

    transition_id: str
    kind: TransitionKind
    customer_key: str
    identities: Identities
    consent: ConsentSnapshot
    holdout: bool
    old_state: str | None = None
    new_state: str | None = None
    reason: str
    causing_event_id: str
    occurred_at: datetime
    attributes: dict[str, Any]
    changed: tuple[str, ...] = ()
    ticket: dict[str, Any] | None = None
    rating: dict[str, Any] | None = None
    details: dict[str, Any] | None = None  # kind-specific extras (segments, profile, merge)

    def json_fields(self) -> dict[str, Any]:
        """The field values for orjson to write (with `JSON_OPTIONS` and `json_value`):
        every field by name, the nested identities and consent as plain dicts."""
        fields = msgspec.structs.asdict(self)
        fields["identities"] = self.identities.as_dict()
        fields["consent"] = msgspec.structs.asdict(self.consent)
        return fields

    def to_json(self) -> bytes:
        return orjson.dumps(self.json_fields(), default=json_value, option=JSON_OPTIONS)

    def json_dict(self) -> dict[str, Any]:
        """The transition as the transitions topic carries it (for dead-letter records)."""
        values: dict[str, Any] = orjson.loads(self.to_json())
        return values

    @classmethod
    def from_json(cls, data: bytes | str) -> Transition:
        return _DECODER.decode(data)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Transition:
        """A transition from its JSON fields (a route dead letter's record)."""
        return msgspec.convert(values, cls)


_DECODER = msgspec.json.Decoder(Transition)
