"""Zendesk sink (SPEC S6, recipes R3 R4 R5 R7 R8 R19).

Operations (`Action.operation`; `Action.person` is the user's email or external id):

    update_user          attributes -> create_or_update user (see `connectors.zendesk.users`);
                         bursts of many people -> create_or_update_many (<= 100) + job polling
    update_organization  attributes (external_id, name, domain_names, tags, url, ...) ->
                         organizations/create_or_update (external_id defaults to person)
    add_membership       payload organization_id | organization_external_id (+ optional
                         user_id) -> organization_memberships create
    remove_membership    same payload -> find the membership and delete it
    create_ticket        payload["ticket"]: Zendesk ticket fields; conveniences `note`
                         (internal comment, public=false), requester defaults to the person,
                         external_id defaults to the action id
    update_ticket        payload ticket_id and ticket fields (priority, tags, group_id,
                         assignee_id, status, ...); `note` -> internal comment; `comment`;
                         `add_tags` / `remove_tags` (read the ticket, write the union)

Per-item failures of a batch job reach the dlq with Zendesk's error; a 422/400 answer
reaches the dlq with the response body.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, ClassVar

import orjson

from connectors.delivery.batching import BatchingSink, BatchResult
from connectors.delivery.budget import RequestBudget
from connectors.delivery.errors import ClientError
from connectors.zendesk.client import MANY_LIMIT, ZendeskClient
from connectors.zendesk.users import user_body
from contracts.actions import Action

log = logging.getLogger(__name__)


class InvalidForZendesk(ClientError):
    """The action cannot become a valid Zendesk request; not sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, reason.encode(), f"not sent: {reason}")


class ZendeskSink(BatchingSink):
    name = "zendesk"
    max_batch: ClassVar[int] = MANY_LIMIT

    def __init__(self, *, client: ZendeskClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.dropped_fields: Counter[str] = Counter()
        self._memberships: dict[tuple[int, int], int] = {}

    def _budget(self, action: Action, prepaid: int = 1) -> RequestBudget:
        return RequestBudget(self.bucket, action.priority, prepaid=prepaid)

    async def _user(self, action: Action, budget: RequestBudget) -> dict[str, Any]:
        known = await self.client.user_field_keys(budget)
        before = sum(self.dropped_fields.values())
        user = user_body(action, known, self.dropped_fields)
        if sum(self.dropped_fields.values()) > before:
            log.debug("zendesk: dropped unknown user fields for %s", action.action_id)
        return user

    # -- one action ------------------------------------------------------------------------

    async def send(self, action: Action) -> None:
        budget = self._budget(action)
        op = action.operation
        if op == "update_user":
            user = await self._user(action, budget)
            if len(user) > 1:
                await self.client.create_or_update_user(user, budget)
        elif op == "update_organization":
            organization = dict(action.attributes)
            external = action.payload.get("external_id") or action.person
            organization.setdefault("external_id", external)
            if not (organization.get("external_id") or organization.get("name")):
                raise InvalidForZendesk("an organization needs an external_id or a name")
            await self.client.create_or_update_organization(organization, budget)
        elif op in ("add_membership", "remove_membership"):
            await self._membership(action, budget, add=op == "add_membership")
        elif op == "create_ticket":
            await self.client.create_ticket(self._new_ticket(action), budget)
        elif op == "update_ticket":
            await self._update_ticket(action, budget)
        else:
            raise InvalidForZendesk(f"unknown operation {op!r}")

    def _new_ticket(self, action: Action) -> dict[str, Any]:
        ticket = dict(action.payload.get("ticket") or {})
        note = action.payload.get("note")
        if note is not None:
            ticket["comment"] = {"body": str(note), "public": False}
        if not ticket.get("comment"):
            raise InvalidForZendesk("a new ticket needs a comment (or a note)")
        if "requester_id" not in ticket and "requester" not in ticket and "@" in action.person:
            ticket["requester"] = {"email": action.person, "name": action.person.split("@")[0]}
        ticket.setdefault("external_id", action.action_id)
        return ticket

    async def _update_ticket(self, action: Action, budget: RequestBudget) -> None:
        payload = action.payload
        raw_id = str(payload.get("ticket_id"))
        if not raw_id.isdigit():
            raise InvalidForZendesk("update_ticket needs a numeric ticket_id")
        ticket_id = int(raw_id)
        changes = dict(payload.get("ticket") or {})
        for key in ("priority", "tags", "group_id", "assignee_id", "status", "type", "subject"):
            if key in payload:
                changes[key] = payload[key]
        if payload.get("note") is not None:
            changes["comment"] = {"body": str(payload["note"]), "public": False}
        elif payload.get("comment") is not None:
            changes["comment"] = {"body": str(payload["comment"]), "public": True}
        add, remove = payload.get("add_tags") or [], payload.get("remove_tags") or []
        if add or remove:
            current = await self.client.show_ticket(ticket_id, budget)
            tags = list(changes.get("tags") or current.get("tags") or [])
            tags += [t for t in add if t not in tags]
            changes["tags"] = [t for t in tags if t not in remove]
        if not changes:
            raise InvalidForZendesk("update_ticket without any change")
        await self.client.update_ticket(ticket_id, changes, budget)

    async def _membership(self, action: Action, budget: RequestBudget, *, add: bool) -> None:
        payload = action.payload
        user_id = payload.get("user_id")
        if user_id is None:
            key = "email" if "@" in action.person else "external_id"
            found = await self.client.search_users(budget, **{key: action.person})
            if not found:
                raise InvalidForZendesk("no Zendesk user for the person")
            user_id = found[0]["id"]
        org_id = payload.get("organization_id")
        if org_id is None:
            external = payload.get("organization_external_id")
            if not external:
                raise InvalidForZendesk("membership needs organization_id or _external_id")
            org: dict[str, Any] = {"external_id": str(external)}
            if payload.get("organization_name"):
                org["name"] = str(payload["organization_name"])
            org_id = (await self.client.create_or_update_organization(org, budget))["id"]
        pair = (int(user_id), int(org_id))
        if add:
            created = await self.client.create_membership(*pair, budget)
            self._memberships[pair] = int(created["id"])
            return
        membership = self._memberships.pop(pair, None)
        if membership is None:
            listed = await self.client.user_memberships(pair[0], budget)
            ours = [int(m["id"]) for m in listed if m.get("organization_id") == pair[1]]
            membership = ours[0] if ours else None
        if membership is not None:
            await self.client.delete_membership(membership, budget)

    # -- create_or_update_many -------------------------------------------------------------

    def batch_key(self, action: Action) -> str | None:
        return "users" if action.operation == "update_user" and not action.one_off else None

    async def send_batch(self, actions: list[Action]) -> BatchResult:
        budget = self._budget(actions[0])
        results: BatchResult = [None] * len(actions)
        users: list[dict[str, Any]] = []
        positions: list[int] = []  # job result index -> index in actions
        for index, action in enumerate(actions):
            user = await self._user(action, budget)
            if len(user) > 1:  # only the identity left: nothing to set
                users.append(user)
                positions.append(index)
        if not users:
            return results
        job = await self.client.create_or_update_users(users, budget)
        if job.get("status") != "completed":
            failure = ClientError(422, orjson.dumps(job), f"job {job.get('status')}")
            return [failure if i in positions else None for i in range(len(actions))]
        for item in job.get("results") or []:
            at = item.get("index") if isinstance(item, dict) else None
            if isinstance(at, int) and 0 <= at < len(positions) and item.get("error"):
                results[positions[at]] = ClientError(422, orjson.dumps(item), "job item failed")
        return results
