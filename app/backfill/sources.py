"""Backfill sources: one page of platform records → raw envelopes in live body shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from app.backfill.writer import ITEM
from connectors.inbound import BadPayload
from connectors.intercom.search import ConversationSearch
from connectors.intercom.webhook import routing_key as intercom_key
from connectors.zendesk.export import ZendeskExport
from connectors.zendesk.normalize import TRIGGER_MARKER
from connectors.zendesk.webhook import routing_key as zendesk_key
from contracts.events import Source
from contracts.records import RawEnvelope, now_ts

_TICKET_FIELDS = (
    "id", "status", "priority", "tags", "subject", "via", "assignee_id", "group_id",
    "created_at", "updated_at", "custom_fields",
)


@dataclass
class Fetched:
    envelopes: list[RawEnvelope]
    cursor: dict[str, Any]  # where the next page starts
    done: bool
    unkeyed: int = 0  # records with no identifier to key them by (not written)
    extra: dict[str, Any] = field(default_factory=dict)


class BackfillSource(Protocol):
    name: Source

    async def fetch(self, cursor: dict[str, Any], since: float) -> Fetched: ...


def _envelope(source: Source, doc: dict[str, Any], item_id: str, key: str) -> RawEnvelope:
    return RawEnvelope(
        source=source,
        body=orjson.dumps(doc),
        headers={ITEM: item_id},
        received_at=now_ts(),
        origin="backfill",
        key=key,
        path=f"backfill/{source}",
    )


def zendesk_ticket_body(ticket: dict[str, Any], users: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An exported ticket as a `zendesk-trigger/v1` body (a full snapshot + requester)."""
    requester_id = ticket.get("requester_id")
    user = users.get(str(requester_id)) or {}
    rating = ticket.get("satisfaction_rating")
    score = rating.get("score") if isinstance(rating, dict) else None
    return {
        "supportsync": TRIGGER_MARKER,
        "event_id": f"backfill:{ticket['id']}:{ticket.get('updated_at')}",
        "ticket": {k: ticket.get(k) for k in _TICKET_FIELDS},
        "requester": {
            "id": requester_id,
            "email": user.get("email"),
            "external_id": user.get("external_id"),
            "phone": user.get("phone"),
        },
        "satisfaction": {"score": score},
    }


class ZendeskSource:
    name: Source = "zendesk"

    def __init__(self, export: ZendeskExport) -> None:
        self.export = export

    async def fetch(self, cursor: dict[str, Any], since: float) -> Fetched:
        after = cursor.get("after_cursor")
        page = await (
            self.export.page(cursor=after) if after else self.export.page(start_time=int(since))
        )
        users = dict(page.users)
        for ticket in page.tickets:  # requesters the export did not sideload
            rid = ticket.get("requester_id")
            if rid is not None and str(rid) not in users:
                user = await self.export.user(str(rid))
                if user is not None:
                    users[str(rid)] = user
        envelopes: list[RawEnvelope] = []
        unkeyed = 0
        for ticket in page.tickets:
            doc = zendesk_ticket_body(ticket, users)
            try:
                key = zendesk_key(doc)
            except BadPayload:
                unkeyed += 1
                continue
            envelopes.append(_envelope("zendesk", doc, str(doc["event_id"]), key))
        next_cursor = {"after_cursor": page.after_cursor or after}
        return Fetched(envelopes, next_cursor, page.end_of_stream or not page.tickets, unkeyed)


def intercom_notification(conversation: dict[str, Any]) -> dict[str, Any]:
    state = conversation.get("state")
    topic = {
        "closed": "conversation.admin.closed",
        "snoozed": "conversation.admin.snoozed",
    }.get(str(state), "conversation.user.created")
    return {
        "type": "notification_event",
        "id": f"backfill:{conversation['id']}:{conversation.get('updated_at')}",
        "topic": topic,
        "created_at": conversation.get("updated_at"),
        "data": {"item": conversation},
    }


class IntercomSource:
    name: Source = "intercom"

    def __init__(self, search: ConversationSearch) -> None:
        self.search = search

    async def fetch(self, cursor: dict[str, Any], since: float) -> Fetched:
        updated_after = int(cursor.get("updated_after", int(since) - 1))
        page = await self.search.page(updated_after, cursor.get("starting_after"))
        envelopes: list[RawEnvelope] = []
        unkeyed = 0
        for conversation in page.conversations:
            doc = intercom_notification(conversation)
            try:
                key = intercom_key(doc)
            except BadPayload:
                unkeyed += 1
                continue
            envelopes.append(_envelope("intercom", doc, str(doc["id"]), key))
        done = page.next_starting_after is None
        next_cursor = {"updated_after": updated_after, "starting_after": page.next_starting_after}
        return Fetched(envelopes, next_cursor, done, unkeyed, {"total": page.total_count})
