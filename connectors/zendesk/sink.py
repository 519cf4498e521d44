"""Zendesk sink (SPEC S6, recipes R3 R4 R5 R7 R8 R19).

Operations (`Action.operation`; `Action.person` is the user's email or external id):

    update_user          attributes -> create_or_update user (see `connectors.zendesk.users`);
                         bursts of many people -> create_or_update_many (<= 100) + job polling;
                         with payload `create: false` only an existing user is updated
                         (found by external_id/email, then PUT users/{id}): none -> dlq;
                         with payload `user_id` (Zendesk id) that user is updated (PUT
                         users/{id}); an `email` attribute becomes the user's primary
                         email identity (added if missing, then made primary): R10
    update_organization  attributes (external_id, name, domain_names, tags,
                         organization_fields, ...) -> organizations/create_or_update
                         (external_id defaults to person); organization fields the account
                         does not define are dropped and counted, like user fields
    user_event           payload `event` {type, properties, created_at} for the user found
                         by payload user_id (Zendesk id), else email, else external_id ->
                         Events API POST users/{id}/events; no such user -> dlq
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
from connectors.zendesk.users import identify_by, user_body
from contracts.actions import Action

log = logging.getLogger(__name__)
#: `source` of the events supportsync stores on Zendesk users ("zendesk" is reserved)
EVENT_SOURCE = "supportsync"


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
        self.dropped_organization_fields: Counter[str] = Counter()
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
        if op == "update_user" and _user_id(action) is not None:
            await self._update_user_by_id(action, budget)
        elif op == "update_user" and action.payload.get("create") is False:
            await self._update_existing_user(action, budget)
        elif op == "update_user":
            user = await self._user(action, budget)
            if len(user) > 1:
                await self.client.create_or_update_user(user, budget)
        elif op == "update_organization":
            await self._organization(action, budget)
        elif op == "user_event":
            await self._user_event(action, budget)
        elif op in ("add_membership", "remove_membership"):
            await self._membership(action, budget, add=op == "add_membership")
        elif op == "create_ticket":
            await self.client.create_ticket(self._new_ticket(action), budget)
        elif op == "update_ticket":
            await self._update_ticket(action, budget)
        else:
            raise InvalidForZendesk(f"unknown operation {op!r}")

    async def _find_user_id(
        self, budget: RequestBudget, *, email: str | None = None, external_id: str | None = None
    ) -> int | None:
        if not (email or external_id):
            return None
        found = await self.client.search_users(budget, email=email, external_id=external_id)
        # search by email is a full-text query: keep only an exact match
        exact = [u for u in found if (email is None or str(u.get("email", "")).lower() == email)
                 and (external_id is None or str(u.get("external_id")) == external_id)]
        return int(exact[0]["id"]) if exact else None

    async def _update_user_by_id(self, action: Action, budget: RequestBudget) -> None:
        user_id = int(str(_user_id(action)))
        user = await self._user(action, budget)
        user.pop(identify_by(action), None)  # the id addresses the user
        # On an update Zendesk takes `email` as a further identity: a changed email is
        # made the primary identity instead (added first when the user lacks it).
        email = action.attributes.get("email")
        user.pop("email", None)
        if user:
            await self.client.update_user(user_id, user, budget)
        if isinstance(email, str) and email:
            await self._primary_email(user_id, email, budget)

    async def _primary_email(self, user_id: int, email: str, budget: RequestBudget) -> None:
        wanted = email.strip().lower()
        known = await self.client.email_identities(user_id, budget)
        identity = next((i for i in known if str(i.get("value", "")).lower() == wanted), None)
        if identity is None:
            identity = await self.client.add_email_identity(user_id, email, budget)
        if not identity.get("primary") and identity.get("id") is not None:
            await self.client.make_identity_primary(user_id, int(identity["id"]), budget)

    async def _update_existing_user(self, action: Action, budget: RequestBudget) -> None:
        user = await self._user(action, budget)
        key = identify_by(action)
        if key == "email":
            user_id = await self._find_user_id(budget, email=action.person)
        else:
            user_id = await self._find_user_id(budget, external_id=action.person)
        if user_id is None:
            raise InvalidForZendesk(
                f"no Zendesk user with this {key}: an update without an email creates nobody"
            )
        user.pop(key, None)  # the match itself; Zendesk keeps it
        if user:
            await self.client.update_user(user_id, user, budget)

    async def _organization(self, action: Action, budget: RequestBudget) -> None:
        organization = dict(action.attributes)
        external = action.payload.get("external_id") or action.person
        organization.setdefault("external_id", external)
        if not (organization.get("external_id") or organization.get("name")):
            raise InvalidForZendesk("an organization needs an external_id or a name")
        fields = organization.pop("organization_fields", None)
        if isinstance(fields, dict) and fields:
            known = await self.client.organization_field_keys(budget)
            kept = {k: v for k, v in fields.items() if k in known}
            self.dropped_organization_fields.update(k for k in fields if k not in known)
            if kept:
                organization["organization_fields"] = kept
        await self.client.create_or_update_organization(organization, budget)

    async def _user_event(self, action: Action, budget: RequestBudget) -> None:
        payload = action.payload
        event = payload.get("event")
        if not isinstance(event, dict) or not event.get("type"):
            raise InvalidForZendesk("user_event needs event.type")
        zendesk_id = str(payload.get("user_id") or "")
        email = str(payload.get("email") or "") or None
        external_id = str(payload.get("external_id") or "") or None
        user_id: int | None = int(zendesk_id) if zendesk_id.isdigit() else None
        if user_id is None:
            user_id = await self._find_user_id(budget, email=email)
        if user_id is None:
            user_id = await self._find_user_id(budget, external_id=external_id)
        if user_id is None:
            tried = [k for k, v in (("context.zendesk_user_id", zendesk_id), ("email", email),
                                    ("external_id", external_id)) if v]
            raise InvalidForZendesk(f"no Zendesk user for the event (looked up by "
                                    f"{', '.join(tried) or 'nothing'})")
        identifiers = [{"type": kind, "value": value} for kind, value in
                       (("email", email), ("external_id", external_id),
                        ("zendesk_user_id", str(user_id))) if value]
        profile = {"source": EVENT_SOURCE, "type": "customer", "identifiers": identifiers}
        body: dict[str, Any] = {
            "source": EVENT_SOURCE,
            "type": str(event["type"]),
            "properties": dict(event.get("properties") or {}),
        }
        if event.get("created_at"):
            body["created_at"] = str(event["created_at"])
        await self.client.track_user_event(user_id, profile, body, budget)

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
        batchable = (action.operation == "update_user" and action.payload.get("create") is not False
                     and _user_id(action) is None)
        return "users" if batchable and not action.one_off else None

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


def _user_id(action: Action) -> int | None:
    """`payload["user_id"]`: the Zendesk id of the user to update (PUT, creates nobody)."""
    found = str(action.payload.get("user_id") or "")
    return int(found) if found.isdigit() else None
