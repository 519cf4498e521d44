"""``FakeIntercom``: the Intercom REST API 2.14, validated against Intercom's OpenAPI file."""

from __future__ import annotations

import hmac
import itertools
import math
import time
import uuid
from typing import Any

from aiohttp import web

from connectors.testing.fakes.base import Call, Rejection
from connectors.testing.fakes.faults import RateDecision
from connectors.testing.fakes.openapi import OpenAPIFake

API_VERSION = "2.14"
_CODES = {
    400: "parameter_invalid",
    401: "unauthorized",
    404: "not_found",
    409: "conflict",
    429: "rate_limit_exceeded",
    500: "server_error",
}
_OPS: dict[str, Any] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "IN": lambda a, b: a in b,
    "NIN": lambda a, b: a not in b,
    ">": lambda a, b: a is not None and a > b,
    "<": lambda a, b: a is not None and a < b,
    "~": lambda a, b: isinstance(a, str) and str(b) in a,
    "!~": lambda a, b: not (isinstance(a, str) and str(b) in a),
    "^": lambda a, b: isinstance(a, str) and a.startswith(str(b)),
    "$": lambda a, b: isinstance(a, str) and a.endswith(str(b)),
}


def error_list(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """Intercom's error envelope."""
    return {
        "type": "error.list",
        "request_id": str(uuid.uuid4()),
        "errors": [{"code": code or _CODES.get(status, "error"), "message": message}],
    }


def matches(obj: dict[str, Any], query: dict[str, Any]) -> bool:
    """Evaluate an Intercom search query (single filter or nested AND/OR) against ``obj``."""
    if query.get("operator") in ("AND", "OR"):
        results = [matches(obj, q) for q in query.get("value", [])]
        return all(results) if query["operator"] == "AND" else any(results)
    value: Any = obj
    for part in str(query.get("field", "")).split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return bool(_OPS[query["operator"]](value, query.get("value")))


def _page(items: list[dict[str, Any]], body: dict[str, Any], key: str) -> dict[str, Any]:
    """Cursor pagination as Intercom's search endpoints do it (starting_after = offset)."""
    pagination = body.get("pagination") or {}
    per_page = int(pagination.get("per_page", 150))
    start = int(pagination.get("starting_after") or 0)
    page = items[start : start + per_page]
    pages: dict[str, Any] = {
        "type": "pages",
        "page": start // per_page + 1,
        "per_page": per_page,
        "total_pages": max(1, math.ceil(len(items) / per_page)),
    }
    if start + per_page < len(items):
        pages["next"] = {"page": pages["page"] + 1, "starting_after": str(start + per_page)}
    return {
        "type": key,
        "data" if key == "list" else "conversations": page,
        "total_count": len(items),
        "pages": pages,
    }


class FakeIntercom(OpenAPIFake):
    """Contacts, companies, tags, conversations (reply, parts, tags, search), data events."""

    name = "FakeIntercom"
    spec_file = "intercom/api.intercom.io.2.14.yaml"
    spec_host_url = "https://api.intercom.io"

    def __init__(self, *, token: str = "test-token", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.contacts: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, str] = {}  # id -> name; seed with add_tag
        self.events: list[dict[str, Any]] = []
        self.companies: dict[str, dict[str, Any]] = {}  # by our company_id
        self.messages: list[dict[str, Any]] = []  # what POST /messages sent
        self._ids = itertools.count(1)
        #: the admin the access token acts as (GET /me)
        self.me: dict[str, Any] = {"type": "admin", "id": "991", "email": "bot@example.com",
                                   "name": "supportsync", "app": {"type": "app", "id_code": "x"}}
        for method, path, handler in (
            ("GET", "/me", self._me),
            ("POST", "/contacts", self._contact_create),
            ("PUT", "/contacts/{contact_id}", self._contact_update),
            ("GET", "/contacts/{contact_id}", self._contact_show),
            ("POST", "/contacts/search", self._contact_search),
            ("POST", "/contacts/{contact_id}/tags", self._contact_tag),
            ("DELETE", "/contacts/{contact_id}/tags/{tag_id}", self._contact_untag),
            ("POST", "/conversations/{conversation_id}/reply", self._reply),
            ("POST", "/conversations/{conversation_id}/parts", self._parts),
            ("POST", "/conversations/{conversation_id}/tags", self._conversation_tag),
            ("POST", "/conversations/search", self._conversation_search),
            ("POST", "/events", self._event),
            ("POST", "/companies", self._company_upsert),
            ("POST", "/contacts/{contact_id}/companies", self._contact_attach_company),
            ("POST", "/messages", self._message),
        ):
            self.route(method, path, handler)

    # -- vendor conventions ----------------------------------------------------------------
    def check_credentials(self, request: web.Request) -> Rejection | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token, self.token):
            return Rejection(401, "Access Token Invalid")
        version = request.headers.get("Intercom-Version")
        if version != API_VERSION:
            return Rejection(
                400,
                f"Intercom-Version must be {API_VERSION}, got {version!r}",
                body=error_list(
                    400, "Requested version is not supported", "intercom_version_invalid"
                ),
            )
        return None

    def error_body(self, status: int, reason: str) -> Any:
        return error_list(status, reason)

    def rate_limit_headers(self, decision: RateDecision) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(math.ceil(time.time() + decision.reset_in)),
        }

    # -- seeding ---------------------------------------------------------------------------
    def _new_id(self) -> str:
        return f"{next(self._ids):024x}"  # Intercom ids are 24 hex characters

    def add_tag(self, name: str) -> str:
        """Create a tag and return its id."""
        tag_id = str(next(self._ids))
        self.tags[tag_id] = name
        return tag_id

    def seed_contact(
        self, email: str, contact_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Store a contact directly (as if it existed in Intercom) and return it."""
        now = int(time.time())
        contact = {"type": "contact", "id": contact_id or self._new_id(), "role": "user",
                   "email": email, "created_at": now, "updated_at": now,
                   "custom_attributes": {}, "tags": {"type": "list", "data": []}, **fields}
        self.contacts[contact["id"]] = contact
        return contact

    def seed_conversation(self, updated_at: int | None = None, **fields: Any) -> dict[str, Any]:
        """Store a conversation directly (for search/backfill tests) and return it."""
        now = int(time.time()) if updated_at is None else updated_at
        conv = {
            "type": "conversation",
            "id": str(next(self._ids)),
            "created_at": now,
            "updated_at": now,
            "state": "open",
            "open": True,
            "admin_assignee_id": None,
            "tags": {"type": "tag.list", "tags": []},
            "conversation_parts": {
                "type": "conversation_part.list",
                "conversation_parts": [],
                "total_count": 0,
            },
            **fields,
        }
        self.conversations[conv["id"]] = conv
        return conv

    # -- contacts --------------------------------------------------------------------------
    def _contact(self, call: Call) -> dict[str, Any]:
        contact = self.contacts.get(call.params["contact_id"])
        if contact is None:
            raise Rejection(404, "User Not Found", violation=False)
        return contact

    def _duplicate(self, data: dict[str, Any], exclude: str | None = None) -> dict[str, Any] | None:
        for contact in self.contacts.values():
            if contact["id"] == exclude:
                continue
            for key in ("email", "external_id"):
                if data.get(key) and contact.get(key) == data[key]:
                    return contact
        return None

    async def _me(self, call: Call) -> web.Response:
        return web.json_response(self.me)

    async def _contact_create(self, call: Call) -> web.Response:
        data = call.json or {}
        if not any(data.get(k) for k in ("email", "external_id", "role")):
            raise Rejection(400, "Please provide at least one of email, external_id or role")
        existing = self._duplicate(data)
        if existing is not None:
            message = f"A contact matching those details already exists with id={existing['id']}"
            # a believable refusal the client must handle (SPEC S6), not a contract breach
            raise Rejection(409, message, body=error_list(409, message), violation=False)
        now = int(time.time())
        contact = {
            "type": "contact",
            "id": self._new_id(),
            "role": "user",
            "created_at": now,
            "updated_at": now,
            "custom_attributes": {},
            "tags": {"type": "list", "data": []},
            **data,
        }
        self.contacts[contact["id"]] = contact
        return web.json_response(contact)

    async def _contact_update(self, call: Call) -> web.Response:
        contact, data = self._contact(call), dict(call.json or {})
        if self._duplicate(data, exclude=contact["id"]) is not None:
            message = "A contact matching those details already exists"
            raise Rejection(409, message, body=error_list(409, message), violation=False)
        attrs = data.pop("custom_attributes", None) or {}
        contact.update(data)
        contact["custom_attributes"] = {**contact["custom_attributes"], **attrs}
        contact["updated_at"] = int(time.time())
        return web.json_response(contact)

    async def _contact_show(self, call: Call) -> web.Response:
        return web.json_response(self._contact(call))

    async def _contact_search(self, call: Call) -> web.Response:
        body = call.json or {}
        found = [c for c in self.contacts.values() if matches(c, body["query"])]
        return web.json_response(_page(found, body, "list"))

    def _tag(self, call: Call) -> dict[str, Any]:
        tag_id = str((call.json or {}).get("id"))
        if tag_id not in self.tags:
            raise Rejection(404, "Tag not found", violation=False)
        return {"type": "tag", "id": tag_id, "name": self.tags[tag_id]}

    async def _contact_tag(self, call: Call) -> web.Response:
        contact, tag = self._contact(call), self._tag(call)
        if tag not in contact["tags"]["data"]:
            contact["tags"]["data"].append(tag)
        return web.json_response(tag)

    async def _contact_untag(self, call: Call) -> web.Response:
        contact = self._contact(call)
        tag_id = call.params["tag_id"]
        if tag_id not in self.tags:
            raise Rejection(404, "Resource Not Found", violation=False)
        tag = {"type": "tag", "id": tag_id, "name": self.tags[tag_id]}
        contact["tags"]["data"] = [t for t in contact["tags"]["data"] if t.get("id") != tag_id]
        return web.json_response(tag)

    # -- conversations ---------------------------------------------------------------------
    def _conversation(self, call: Call) -> dict[str, Any]:
        conv = self.conversations.get(call.params["conversation_id"])
        if conv is None:
            raise Rejection(404, "Resource Not Found", violation=False)
        return conv

    def _add_part(self, conv: dict[str, Any], part_type: str, body: dict[str, Any]) -> None:
        now = int(time.time())
        parts = conv["conversation_parts"]
        parts["conversation_parts"].append(
            {
                "type": "conversation_part",
                "id": self._new_id(),
                "part_type": part_type,
                "body": body.get("body"),
                "created_at": now,
                "author": {"type": body.get("type"), "id": body.get("admin_id")},
            }
        )
        parts["total_count"] = len(parts["conversation_parts"])
        conv["updated_at"] = now

    async def _reply(self, call: Call) -> web.Response:
        conv, body = self._conversation(call), call.json or {}
        self._add_part(conv, body.get("message_type", "comment"), body)
        return web.json_response(conv)

    async def _parts(self, call: Call) -> web.Response:
        conv, body = self._conversation(call), call.json or {}
        kind = body.get("message_type")
        if kind == "close":
            conv.update(state="closed", open=False)
        elif kind == "open":
            conv.update(state="open", open=True)
        elif kind == "snooze":
            conv.update(state="snoozed", snoozed_until=body.get("snoozed_until"))
        elif kind == "assignment":
            conv["admin_assignee_id"] = body.get("assignee_id")
        self._add_part(conv, str(kind), body)
        return web.json_response(conv)

    async def _conversation_tag(self, call: Call) -> web.Response:
        conv, tag = self._conversation(call), self._tag(call)
        if tag not in conv["tags"]["tags"]:
            conv["tags"]["tags"].append(tag)
        return web.json_response(tag)

    async def _conversation_search(self, call: Call) -> web.Response:
        body = call.json or {}
        found = sorted(
            (c for c in self.conversations.values() if matches(c, body["query"])),
            key=lambda c: (c["updated_at"], c["id"]),
        )
        return web.json_response(_page(found, body, "conversation.list"))

    async def _message(self, call: Call) -> web.Response:
        body = call.json or {}
        recipient = body.get("to")
        target = recipient[0] if isinstance(recipient, list) and recipient else recipient
        if not isinstance(target, dict) or str(target.get("id")) not in self.contacts:
            raise Rejection(404, "User Not Found", violation=False)
        self.messages.append(body)
        answer: dict[str, Any] = {
            "type": "admin_message", "id": self._new_id(), "created_at": int(time.time()),
            "subject": body.get("subject", ""), "body": body.get("body"),
            "message_type": body.get("message_type"),
        }
        if body.get("create_conversation_without_contact_reply"):
            conv = self.seed_conversation(
                source={"type": "conversation", "body": body.get("body"),
                        "author": {"type": "admin", "id": str(body["from"]["id"])}},
                contacts={"type": "contact.list",
                          "contacts": [{"type": "contact", "id": str(target["id"])}]},
            )
            answer["conversation_id"] = conv["id"]
        return web.json_response(answer)

    # -- companies -------------------------------------------------------------------------
    async def _company_upsert(self, call: Call) -> web.Response:
        data = dict(call.json or {})
        remote = data.get("company_id")
        if not remote:  # Intercom looks companies up by company_id; none to find or create
            raise Rejection(400, "company_id is required", violation=False)
        now = int(time.time())
        company = self.companies.get(str(remote))
        if company is None:
            company = {"type": "company", "id": self._new_id(), "company_id": str(remote),
                       "created_at": now, "user_count": 0, "custom_attributes": {}}
            self.companies[str(remote)] = company
        attrs = data.pop("custom_attributes", None) or {}
        company.update(data)
        company["custom_attributes"] = {**company["custom_attributes"], **attrs}
        company["updated_at"] = now
        return web.json_response(company)

    async def _contact_attach_company(self, call: Call) -> web.Response:
        contact = self._contact(call)
        wanted = str((call.json or {}).get("id"))
        company = next((c for c in self.companies.values() if c["id"] == wanted), None)
        if company is None:
            raise Rejection(404, "Company Not Found", violation=False)
        attached = contact.setdefault("companies", {"type": "list", "data": []})["data"]
        if not any(c.get("id") == company["id"] for c in attached):
            attached.append({"type": "company", "id": company["id"]})
            company["user_count"] = company.get("user_count", 0) + 1
        return web.json_response(company)

    async def _event(self, call: Call) -> web.Response:
        self.events.append(call.json or {})
        return web.Response(status=202)
