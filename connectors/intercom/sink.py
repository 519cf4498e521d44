"""Intercom sink (SPEC S6, recipes R1 R9 R12 R13 R15).

Operations (`Action.operation`; `Action.person` is the contact's email or external id):

    update_contact        attributes: standard contact fields (email, name, phone,
                          unsubscribed_from_emails, ...) at the top level, everything else
                          as custom_attributes. Upsert: cached id -> search -> create; a 409
                          on create means "exists": take its id (from the error or a search)
                          and update it. With payload `contact_id` that contact is
                          updated (PUT /contacts/{id}) without a search; only when Intercom
                          no longer knows that id (404) is the person looked up as above.
    update_company        attributes -> POST /companies (create or update) with company_id
                          = the person: name, plan, website, industry, size, monthly_spend
                          as Intercom's fields, everything else as string custom_attributes
    attach_company        payload company_id (ours, as update_company names it), contact_id
                          (else looked up): the company (POST /companies, created when
                          missing) gets the contact (POST /contacts/{id}/companies)
    tag_contact           payload tag_id
    untag_contact         payload tag_id (DELETE /contacts/{id}/tags/{tag_id})
    reply_conversation    payload conversation_id, body (public comment as an admin)
    note_conversation     payload conversation_id, body (internal note)
    close_conversation / open_conversation / snooze_conversation (snoozed_until) /
    assign_conversation (assignee_id, assignee_type admin|team)   payload conversation_id
    tag_conversation      payload conversation_id, tag_id
    data_event            payload event_name, created_at (unix s), metadata
    send_message          POST /messages from an admin to the contact: payload message_type
                          (email | in_app), subject (email), body, contact_id (else looked
                          up), recipient_type (user | lead); with open_conversation, a
                          conversation opens without the contact replying and `note` (if
                          any) is added to it as an internal note, then it is assigned to
                          the sending admin

Admin-authored operations use `payload["admin_id"]` or the sink's `admin_id`.

Read-your-writes: Intercom's search lags behind creates, so the contact id learnt from a
create (or a 409) is kept in a bounded identity cache; a contact that exists (409) but is
not yet searchable is retried later (`NotYetVisible`, retriable) rather than duplicated.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from connectors.delivery.budget import RequestBudget
from connectors.delivery.errors import ClientError, Conflict, DeliveryError
from connectors.delivery.sink import Sink
from connectors.intercom.client import IntercomClient
from contracts.actions import Action

STANDARD_FIELDS = frozenset(
    {
        "role",
        "external_id",
        "email",
        "phone",
        "name",
        "avatar",
        "signed_up_at",
        "last_seen_at",
        "owner_id",
        "unsubscribed_from_emails",
    }
)
COMPANY_TEXT_FIELDS = frozenset({"name", "plan", "website", "industry"})
COMPANY_NUMBER_FIELDS = frozenset({"size", "monthly_spend", "remote_created_at"})
_ID_IN_MESSAGE = re.compile(r"id=([0-9a-zA-Z]+)")


class InvalidForIntercom(ClientError):
    """The action cannot become a valid Intercom request; not sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, reason.encode(), f"not sent: {reason}")


class NotYetVisible(DeliveryError):
    """The contact exists (409) but search does not show it yet: try again later."""

    retriable = True


class IdentityCache:
    """Bounded LRU person -> Intercom contact id (read-your-writes)."""

    def __init__(self, max_size: int = 100_000) -> None:
        self._max = max_size
        self._ids: OrderedDict[str, str] = OrderedDict()

    def get(self, person: str) -> str | None:
        found = self._ids.get(person)
        if found is not None:
            self._ids.move_to_end(person)
        return found

    def put(self, person: str, contact_id: str) -> None:
        self._ids[person] = contact_id
        self._ids.move_to_end(person)
        while len(self._ids) > self._max:
            self._ids.popitem(last=False)

    def forget(self, person: str) -> None:
        self._ids.pop(person, None)


class IntercomSink(Sink):
    name = "intercom"

    def __init__(
        self,
        *,
        client: IntercomClient,
        admin_id: str | None = None,
        identities: IdentityCache | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.admin_id = admin_id
        self.identities = identities or IdentityCache()

    async def send(self, action: Action) -> None:
        budget = RequestBudget(self.bucket, action.priority)
        op = action.operation
        payload = action.payload
        if op == "update_contact":
            await self._upsert(action, budget)
        elif op in ("tag_contact", "untag_contact"):
            contact_id = await self._contact_id(action, budget)
            tag_id = _required(payload, "tag_id")
            if op == "tag_contact":
                await self.client.tag_contact(contact_id, tag_id, budget)
            else:
                await self.client.untag_contact(contact_id, tag_id, budget)
        elif op in ("reply_conversation", "note_conversation"):
            reply = {
                "message_type": "comment" if op == "reply_conversation" else "note",
                "type": "admin",
                "admin_id": self._admin(action),
                "body": _required(payload, "body"),
            }
            await self.client.reply(_required(payload, "conversation_id"), reply, budget)
        elif op in _PARTS:
            body: dict[str, Any] = {"message_type": _PARTS[op], "admin_id": self._admin(action)}
            if op != "open_conversation":
                body["type"] = "admin"
            if op == "assign_conversation":
                body["type"] = str(payload.get("assignee_type", "admin"))
                body["assignee_id"] = _required(payload, "assignee_id")
            if op == "snooze_conversation":
                body["snoozed_until"] = int(payload["snoozed_until"])
            if payload.get("body") and op != "open_conversation":
                body["body"] = str(payload["body"])
            await self.client.manage(_required(payload, "conversation_id"), body, budget)
        elif op == "tag_conversation":
            conversation = _required(payload, "conversation_id")
            tag = _required(payload, "tag_id")
            await self.client.tag_conversation(conversation, tag, self._admin(action), budget)
        elif op == "update_company":
            await self.client.create_or_update_company(self.company_body(action), budget)
        elif op == "attach_company":
            await self._attach_company(action, budget)
        elif op == "data_event":
            await self.client.create_event(self._event(action), budget)
        elif op == "send_message":
            await self._message(action, budget)
        else:
            raise InvalidForIntercom(f"unknown operation {op!r}")

    async def _message(self, action: Action, budget: RequestBudget) -> None:
        payload = action.payload
        admin = self._admin(action)
        if not admin.isdigit():
            raise InvalidForIntercom("an admin id for messages must be numeric")
        contact_id = str(payload.get("contact_id") or await self._contact_id(action, budget))
        message_type = str(payload.get("message_type") or "email")
        body: dict[str, Any] = {
            "message_type": message_type,
            "body": _required(payload, "body"),
            "from": {"type": "admin", "id": int(admin)},
            "to": {"type": str(payload.get("recipient_type") or "user"), "id": contact_id},
        }
        if message_type == "email":
            body["subject"] = _required(payload, "subject")
            body["template"] = str(payload.get("template") or "plain")
        opens = bool(payload.get("open_conversation"))
        if opens:
            body["create_conversation_without_contact_reply"] = True
        created = await self.client.create_message(body, budget)
        conversation = created.get("conversation_id")
        if not opens or not conversation:
            return
        if payload.get("note"):
            note = {"message_type": "note", "type": "admin", "admin_id": admin,
                    "body": str(payload["note"])}
            await self.client.reply(str(conversation), note, budget)
        assign = {"message_type": "assignment", "type": "admin", "admin_id": admin,
                  "assignee_id": admin}
        await self.client.manage(str(conversation), assign, budget)

    def _admin(self, action: Action) -> str:
        admin = action.payload.get("admin_id") or self.admin_id
        if not admin:
            raise InvalidForIntercom("no admin_id configured for admin-authored operations")
        return str(admin)

    def _event(self, action: Action) -> dict[str, Any]:
        created = action.payload.get("created_at")
        body: dict[str, Any] = {
            "event_name": _required(action.payload, "event_name"),
            "created_at": int(created if created is not None else action.created_at.timestamp()),
            _identity_field(action.person, event=True): action.person,
        }
        if isinstance(action.payload.get("metadata"), dict):
            body["metadata"] = action.payload["metadata"]
        return body

    # -- contacts: upsert with read-your-writes --------------------------------------------

    @staticmethod
    def contact_body(action: Action) -> dict[str, Any]:
        body: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for key, value in action.attributes.items():
            if key in STANDARD_FIELDS:
                body[key] = value
            elif key == "custom_attributes" and isinstance(value, dict):
                custom.update(value)
            else:
                custom[key] = value
        if custom:
            body["custom_attributes"] = custom
        return body

    @staticmethod
    def company_body(action: Action) -> dict[str, Any]:
        """The createOrUpdateCompany body: `company_id` is the person; Intercom's own
        company fields at the top level, whole numbers for size and monthly_spend; every
        other attribute a custom attribute, as a string (Intercom's contract types them so:
        booleans as "true"/"false")."""
        body: dict[str, Any] = {"company_id": action.person}
        custom: dict[str, str] = {}
        for key, value in action.attributes.items():
            if value is None:
                continue
            if key in COMPANY_TEXT_FIELDS:
                body[key] = str(value)
            elif key in COMPANY_NUMBER_FIELDS and _whole(value) is not None:
                body[key] = _whole(value)
            else:
                custom[key] = _as_text(value)
        if custom:
            body["custom_attributes"] = custom
        return body

    async def _attach_company(self, action: Action, budget: RequestBudget) -> None:
        # POST /companies with the company_id alone finds the company (creating it when
        # the organization's own sync has not yet) and answers with Intercom's id
        ours = _required(action.payload, "company_id")
        company = await self.client.create_or_update_company({"company_id": ours}, budget)
        if not company.get("id"):
            raise InvalidForIntercom("Intercom answered no id for the company")
        contact_id = str(action.payload.get("contact_id") or await self._contact_id(action, budget))
        await self.client.attach_company(contact_id, str(company["id"]), budget)

    async def _contact_id(self, action: Action, budget: RequestBudget) -> str:
        cached = self.identities.get(action.person)
        if cached is not None:
            return cached
        field = _identity_field(action.person)
        found = await self.client.find_contact(field, action.person, budget)
        if found is None:
            raise InvalidForIntercom("no Intercom contact for the person")
        self.identities.put(action.person, found)
        return found

    async def _upsert(self, action: Action, budget: RequestBudget) -> None:
        body = self.contact_body(action)
        known = action.payload.get("contact_id")
        if known and body:  # by id: a changed email is an update, never a new contact
            try:
                await self.client.update_contact(str(known), body, budget)
                return
            except ClientError as exc:
                if exc.status != 404:
                    raise
                # gone under that id (a lead merged into a user gets a new one): found
                # by the person below, as any other write
        field = _identity_field(action.person)
        contact_id = self.identities.get(action.person)
        if contact_id is None:
            contact_id = await self.client.find_contact(field, action.person, budget)
        if contact_id is None:
            create = {"role": "user", **body, field: action.person}
            try:
                created = await self.client.create_contact(create, budget)
            except Conflict as exc:
                contact_id = await self._existing(exc, field, action.person, budget)
            else:
                if created.get("id"):
                    self.identities.put(action.person, str(created["id"]))
                return
        self.identities.put(action.person, contact_id)
        if body:
            try:
                await self.client.update_contact(contact_id, body, budget)
            except ClientError as exc:
                if exc.status == 404:
                    self.identities.forget(action.person)
                raise

    async def _existing(
        self, conflict: Conflict, field: str, person: str, budget: RequestBudget
    ) -> str:
        match = _ID_IN_MESSAGE.search(conflict.body or "")
        if match:
            return match.group(1)
        found = await self.client.find_contact(field, person, budget)
        if found is None:
            raise NotYetVisible("contact exists but is not searchable yet") from conflict
        return found


_PARTS = {
    "close_conversation": "close",
    "open_conversation": "open",
    "snooze_conversation": "snooze",
    "assign_conversation": "assignment",
}


def _identity_field(person: str, *, event: bool = False) -> str:
    if "@" in person:
        return "email"
    return "user_id" if event else "external_id"


def _required(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if value is None or value == "":
        raise InvalidForIntercom(f"payload.{key} is required")
    return str(value)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)
