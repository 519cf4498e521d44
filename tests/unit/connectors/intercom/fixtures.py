"""Intercom notification bodies shaped like the documented webhook models (written here)."""

from __future__ import annotations

from typing import Any

import orjson

CONTACT_ID = "65f1c0ffee0000000000a001"


def notification(topic: str, item: dict[str, Any], notif_id: str = "notif_1") -> bytes:
    return orjson.dumps(
        {
            "type": "notification_event",
            "app_id": "abc123de",
            "data": {"type": "notification_event_data", "item": item},
            "links": {},
            "id": notif_id,
            "topic": topic,
            "delivery_status": "pending",
            "delivery_attempts": 1,
            "delivered_at": 0,
            "first_sent_at": 1761991200,
            "created_at": 1761991200,
            "self": None,
        }
    )


def conversation(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "conversation",
        "id": 1911149811,
        "created_at": 1761990000,
        "updated_at": 1761991100,
        "source": {
            "type": "conversation",
            "id": "403918320",
            "delivered_as": "customer_initiated",
            "subject": "",
            "body": "<p>My order never arrived</p>",
            "author": {
                "type": "user",
                "id": CONTACT_ID,
                "name": "Pat Doe",
                "email": "Pat.Doe@Example.com",
            },
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [{"type": "contact", "id": CONTACT_ID, "external_id": "u-42"}],
        },
        "admin_assignee_id": 814860,
        "open": True,
        "state": "open",
        "read": False,
        "priority": "not_priority",
        "tags": {"type": "tag.list", "tags": []},
        "conversation_rating": None,
    }
    item.update(overrides)
    return item


def contact(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "contact",
        "id": CONTACT_ID,
        "workspace_id": "abc123de",
        "external_id": "u-42",
        "role": "user",
        "email": "Pat.Doe@Example.com",
        "phone": "+15550100",
        "name": "Pat Doe",
        "created_at": 1761900000,
        "updated_at": 1761991000,
        "unsubscribed_from_emails": False,
        "custom_attributes": {"plan": "pro"},
    }
    item.update(overrides)
    return item


def ticket(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "ticket",
        "id": "2201",
        "ticket_id": "17",
        "ticket_state": {"type": "ticket_state", "id": "7", "category": "submitted"},
        "ticket_attributes": {"_default_title_": "Refund request"},
        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": CONTACT_ID}]},
        "admin_assignee_id": "0",
        "created_at": 1761991000,
        "updated_at": 1761991050,
        "open": True,
    }
    item.update(overrides)
    return item
