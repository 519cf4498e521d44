"""Customer.io payloads → SupportEvents (pure).

Two body shapes arrive at /webhooks/customerio, both signed (see `webhook.py`):

- Reporting webhooks: `{"event_id", "object_type", "metric", "timestamp", "data":
  {"identifiers": {"id", "email", "cio_id"}, "customer_id", "email_address", "campaign_id",
  "delivery_id", …}}`. Email metrics opened / clicked / delivered / bounced / converted /
  sent / spammed / dropped / failed → `email_engagement` (attributes: metric, channel, the
  campaign/broadcast/action/delivery ids, href for clicks); `unsubscribed` (email or customer
  object) → `unsubscribed`; `subscribed` (customer object) → `subscribed`. Other object types
  and metrics yield no events (kept on the raw topic, counted as unhandled).
- Campaign webhook actions built from our recommended body (`CAMPAIGN_BODY_TEMPLATE`, paste it
  as the JSON body of a "Send and receive data" webhook action): `action` is one of
  segment_entered / segment_exited (with `segment`), lifecycle_event (with `name` and optional
  `attributes`), unsubscribed / subscribed. Unknown actions yield no events.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

from connectors.customerio.webhook import identifiers_of
from contracts.events import EventKind, Identities, SupportEvent
from contracts.timebounds import from_unix

ACTION_MARKER = "customerio-action/v1"

#: What to paste as the JSON body of a Customer.io campaign webhook action (Liquid).
#: Change `action` / `segment` per campaign; `event_id` makes retries of one send deduplicate.
CAMPAIGN_BODY_TEMPLATE: dict[str, Any] = {
    "supportsync": ACTION_MARKER,
    "event_id": "{{campaign.id}}-{{customer.id}}-{{ 'now' | date: '%s' }}",
    "action": "segment_entered",
    "segment": "churn-risk",
    "timestamp": "{{ 'now' | date: '%s' }}",
    "identifiers": {
        "id": "{{customer.id}}",
        "email": "{{customer.email}}",
        "cio_id": "{{customer.cio_id}}",
    },
    "attributes": {"plan": "{{customer.plan}}"},
}

_ENGAGEMENT_METRICS = frozenset(
    {
        "opened",
        "clicked",
        "delivered",
        "bounced",
        "converted",
        "sent",
        "spammed",
        "dropped",
        "failed",
    }
)
_REFERENCE_FIELDS = (
    "campaign_id",
    "broadcast_id",
    "newsletter_id",
    "action_id",
    "delivery_id",
    "journey_id",
    "parent_action_id",
    "href",
    "link_id",
)
_ACTIONS = {
    "segment_entered": EventKind.SEGMENT_ENTERED,
    "segment_exited": EventKind.SEGMENT_EXITED,
    "lifecycle_event": EventKind.LIFECYCLE_EVENT,
    "unsubscribed": EventKind.UNSUBSCRIBED,
    "subscribed": EventKind.SUBSCRIBED,
}


def _time(value: Any) -> datetime | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool) and value != 0:
        return from_unix(value)  # TimeOutOfRange (a ValueError): dead-lettered as malformed
    return None


def _identities(doc: dict[str, Any]) -> Identities:
    ids = identifiers_of(doc)
    return Identities(email=ids.get("email"), external_id=ids.get("id"), cio_id=ids.get("cio_id"))


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list | bool):
        return None
    return str(value).strip() or None


def normalize(body: bytes, received_at: datetime) -> list[SupportEvent]:
    """All events in one Customer.io webhook body (raises ValueError/KeyError on a bad shape)."""
    doc = orjson.loads(body)
    base: dict[str, Any] = {
        "event_id": _text(doc.get("event_id"))
        or "customerio:" + hashlib.sha256(body).hexdigest()[:32],
        "source": "customerio",
        "received_at": received_at,
        "occurred_at": _time(doc.get("timestamp")) or received_at,
        "identities": _identities(doc),
    }
    if "metric" in doc:
        return _from_reporting(doc, base)
    if "action" in doc:
        return _from_action(doc, base)
    return []


def _from_reporting(doc: dict[str, Any], base: dict[str, Any]) -> list[SupportEvent]:
    metric = str(doc.get("metric", "")).strip().lower()
    object_type = str(doc.get("object_type", "")).strip().lower()
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    assert isinstance(data, dict)
    if metric in ("unsubscribed", "subscribed") and object_type in ("email", "customer"):
        kind = EventKind.UNSUBSCRIBED if metric == "unsubscribed" else EventKind.SUBSCRIBED
        if kind is EventKind.SUBSCRIBED and object_type != "customer":
            return []
        return [SupportEvent(**base, kind=kind, attributes={"channel": "email"})]
    if object_type == "email" and metric in _ENGAGEMENT_METRICS:
        attributes: dict[str, Any] = {"metric": metric, "channel": object_type}
        attributes.update(
            {name: text for name in _REFERENCE_FIELDS if (text := _text(data.get(name)))}
        )
        return [SupportEvent(**base, kind=EventKind.EMAIL_ENGAGEMENT, attributes=attributes)]
    return []


def _from_action(doc: dict[str, Any], base: dict[str, Any]) -> list[SupportEvent]:
    action = str(doc.get("action", "")).strip().lower()
    kind = _ACTIONS.get(action)
    if kind is None:
        return []
    extra = doc.get("attributes")
    attributes: dict[str, Any] = dict(extra) if isinstance(extra, dict) else {}
    if kind in (EventKind.SEGMENT_ENTERED, EventKind.SEGMENT_EXITED):
        segment = _text(doc.get("segment"))
        if segment is None:
            raise ValueError(f"{action} action without a segment")
        attributes["segment"] = segment
    elif kind is EventKind.LIFECYCLE_EVENT:
        name = _text(doc.get("name"))
        if name is None:
            raise ValueError("lifecycle_event action without a name")
        attributes["name"] = name
    else:
        attributes["channel"] = _text(doc.get("channel")) or "email"
    return [SupportEvent(**base, kind=kind, attributes=attributes)]
