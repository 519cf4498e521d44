"""Segment-spec messages → SupportEvents (pure).

Each raw record holds one message (see `connectors.pipelines.api`):
- identify → `identify`: identities from userId (external_id), traits.email, traits.phone,
  context.zendesk_user_id; attributes `{"traits", "user_id"?, "anonymous_id"?}` (the state
  folds `traits` into the profile).
- track → `track`: attributes `{"event", "properties", "user_id"?, "anonymous_id"?,
  "zendesk_user_id"?}`.
- group → `group`: attributes `{"group_id", "traits", "user_id"?}`.
- page / screen / alias: valid but unmapped, so no events.
`event_id` is the messageId; `occurred_at` is `timestamp`, else `originalTimestamp`, else
`sentAt`, else the receipt time.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

from connectors.pipelines.api import message_email
from contracts.events import EventKind, Identities, SupportEvent
from contracts.timebounds import parse_iso

_KINDS = {"identify": EventKind.IDENTIFY, "track": EventKind.TRACK, "group": EventKind.GROUP}


def _time(value: Any, field: str) -> datetime | None:
    """A UTC time; None when absent or not a time; TimeOutOfRange (a ValueError: the message
    is dead-lettered as malformed) for a time outside 1970..2200."""
    if not isinstance(value, str) or not value.strip():
        return None
    return parse_iso(value, field)


def _id(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def normalize(body: bytes, received_at: datetime) -> list[SupportEvent]:
    """The event of one stored message; [] for page/screen/alias."""
    message = orjson.loads(body)
    kind = _KINDS.get(str(message.get("type")))
    if kind is None:
        return []
    context = _dict(message.get("context"))
    traits = _dict(message.get("traits"))
    user_id = _id(message.get("userId"))
    zendesk_user_id = _id(context.get("zendesk_user_id"))
    identities = Identities(
        external_id=user_id,
        email=message_email(message),
        phone=_id(traits.get("phone")) if kind is EventKind.IDENTIFY else None,
        zendesk_user_id=zendesk_user_id,
    )
    ids = {"user_id": user_id, "anonymous_id": _id(message.get("anonymousId"))}
    attributes: dict[str, Any] = {k: v for k, v in ids.items() if v}
    if kind is EventKind.IDENTIFY:
        attributes["traits"] = traits
    elif kind is EventKind.TRACK:
        attributes["event"] = str(message["event"])
        attributes["properties"] = _dict(message.get("properties"))
        if zendesk_user_id:
            attributes["zendesk_user_id"] = zendesk_user_id
    else:
        attributes["group_id"] = _id(message.get("groupId"))
        attributes["traits"] = traits
    occurred = (
        _time(message.get("timestamp"), "timestamp")
        or _time(message.get("originalTimestamp"), "originalTimestamp")
        or _time(message.get("sentAt"), "sentAt")
        or received_at
    )
    event_id = _id(message.get("messageId")) or "pipelines:" + hashlib.sha256(body).hexdigest()[:32]
    return [
        SupportEvent(
            event_id=event_id,
            source="pipelines",
            kind=kind,
            occurred_at=occurred,
            received_at=received_at,
            identities=identities,
            attributes=attributes,
        )
    ]
