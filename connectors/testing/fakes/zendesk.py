"""``FakeZendesk``: the Zendesk Support API (``/api/v2``) validated against Zendesk's oas.yaml."""

from __future__ import annotations

import base64
import hmac
import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from connectors.testing.fakes.base import Call, Rejection
from connectors.testing.fakes.faults import RateDecision
from connectors.testing.fakes.openapi import OpenAPIFake
from connectors.testing.fakes.openapi_spec import Patch

MANY_LIMIT = 100  # Zendesk *_many endpoints accept at most 100 objects
_TITLES = {
    400: "InvalidEndpoint",
    401: "Couldn't authenticate you",
    404: "RecordNotFound",
    422: "RecordInvalid",
    429: "TooManyRequests",
}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _relax_cursor_start_time(data: dict[str, Any]) -> list[str]:
    # The spec marks start_time required on every cursor request, but Zendesk's own
    # after_url carries only ``cursor`` and the real API accepts it: follow the real API.
    op = data["paths"]["/api/v2/incremental/tickets/cursor"]
    op["parameters"] = [
        {"name": "start_time", "in": "query", "required": False, "schema": {"type": "integer"}}
        if "IncrementalUnixTime" in json.dumps(p)
        else p
        for p in op.get("parameters", [])
    ]
    return ["GET /api/v2/incremental/tickets/cursor: start_time optional when cursor is given"]


#: Endpoints Zendesk documents but its oas.yaml lacks (the Events API, a user's memberships),
#: transcribed once from Zendesk's API reference: validated like the rest of the spec.
SUPPLEMENT = Path(__file__).parent / "contracts" / "zendesk-supplement.oas.yaml"


def _add_documented_endpoints(data: dict[str, Any]) -> list[str]:
    with SUPPLEMENT.open("rb") as handle:
        supplement = yaml.safe_load(handle)
    added = []
    for path, item in supplement["paths"].items():
        if path in data["paths"]:
            raise ValueError(f"{path} is in oas.yaml now: drop it from {SUPPLEMENT.name}")
        data["paths"][path] = item
        added.append(f"{path}: added from {SUPPLEMENT.name}")
    return added


def _patch(data: dict[str, Any]) -> list[str]:
    return _relax_cursor_start_time(data) + _add_documented_endpoints(data)


class FakeZendesk(OpenAPIFake):
    """Users, organizations, memberships, tickets, job statuses, incremental export, CSAT."""

    name = "FakeZendesk"
    spec_file = "zendesk/support-api.oas.yaml"
    spec_host_url = "https://example.zendesk.com"
    spec_patch_key = "zendesk-cursor-start-time+supplement"

    def __init__(
        self,
        *,
        email: str = "agent@example.com",
        token: str = "test-token",
        page_size: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.credentials = f"{email}/token:{token}"
        self.page_size = page_size
        self.users: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.memberships: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.job_statuses: dict[str, dict[str, Any]] = {}
        self.user_fields: list[dict[str, Any]] = []
        #: email identities by user id (made on first use from the user's email)
        self.identities: dict[int, list[dict[str, Any]]] = {}
        self.organization_fields: list[dict[str, Any]] = []
        #: Events API: what each user received, by Zendesk user id
        self.user_events: dict[int, list[dict[str, Any]]] = {}
        self.satisfaction_ratings: list[dict[str, Any]] = []
        self._ids = itertools.count(1001)
        self._pending_jobs: dict[str, list[dict[str, Any]]] = {}
        # The agent whose API token authenticates: GET /api/v2/users/me answers with it
        # (kept apart from `users`, the end users tests look at).
        self.api_user: dict[str, Any] = {
            "id": 900001, "email": email, "name": "API user", "role": "admin",
            "created_at": _iso(time.time()), "user_fields": {},
        }
        for method, path, handler in (
            ("POST", "/api/v2/users/create_or_update", self._user_upsert),
            ("POST", "/api/v2/users/create_or_update_many", self._user_upsert_many),
            ("GET", "/api/v2/users/search", self._user_search),
            ("GET", "/api/v2/users/me", self._me),
            ("GET", "/api/v2/users/{user_id}", self._user_show),
            ("PUT", "/api/v2/users/{user_id}", self._user_update),
            ("POST", "/api/v2/users/{user_id}/events", self._user_event),
            ("GET", "/api/v2/users/{user_id}/identities", self._identities_list),
            ("POST", "/api/v2/users/{user_id}/identities", self._identity_create),
            ("PUT", "/api/v2/users/{user_id}/identities/{user_identity_id}/make_primary",
             self._identity_primary),
            ("GET", "/api/v2/users/{user_id}/organization_memberships", self._user_memberships),
            ("GET", "/api/v2/organization_fields", self._organization_fields),
            ("GET", "/api/v2/user_fields", self._user_fields),
            ("POST", "/api/v2/tickets", self._ticket_create),
            ("GET", "/api/v2/tickets/{ticket_id}", self._ticket_show),
            ("PUT", "/api/v2/tickets/{ticket_id}", self._ticket_update),
            ("POST", "/api/v2/organizations/create_or_update", self._org_upsert),
            ("POST", "/api/v2/organization_memberships", self._membership_create),
            ("DELETE", "/api/v2/organization_memberships/{membership_id}", self._membership_del),
            ("GET", "/api/v2/job_statuses/{job_id}", self._job_show),
            ("GET", "/api/v2/incremental/tickets/cursor", self._incremental_tickets),
            ("GET", "/api/v2/satisfaction_ratings", self._ratings),
        ):
            self.route(method, path, handler)

    # -- vendor conventions ----------------------------------------------------------------
    def spec_patch(self) -> Patch | None:
        return _patch

    def check_credentials(self, request: web.Request) -> Rejection | None:
        scheme, _, cred = request.headers.get("Authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(cred, validate=True)
        except ValueError:
            decoded = b""
        if scheme.lower() != "basic" or not hmac.compare_digest(decoded, self.credentials.encode()):
            return Rejection(401, "basic auth must be {email}/token:{api_token}")
        return None

    def error_body(self, status: int, reason: str) -> Any:
        return {"error": _TITLES.get(status, "Error"), "description": reason}

    def rate_limit_headers(self, decision: RateDecision) -> dict[str, str]:
        return {
            "X-Rate-Limit": str(decision.limit),
            "X-Rate-Limit-Remaining": str(decision.remaining),
        }

    # -- seeding helpers for tests ---------------------------------------------------------
    def seed_ticket(self, updated_at: float | None = None, **fields: Any) -> dict[str, Any]:
        """Store a ticket directly (for incremental export tests) and return it."""
        stamp = time.time() if updated_at is None else updated_at
        ticket = {
            "id": next(self._ids),
            "status": "open",
            "subject": "",
            "tags": [],
            "created_at": _iso(stamp),
            "updated_at": _iso(stamp),
            **fields,
        }
        ticket["_updated_ts"] = stamp
        self.tickets[ticket["id"]] = ticket
        return ticket

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # -- users -----------------------------------------------------------------------------
    def _find_user(self, data: dict[str, Any]) -> dict[str, Any] | None:
        for user in self.users.values():
            if data.get("id") is not None and user["id"] == data["id"]:
                return user
            for key in ("email", "external_id"):
                if data.get(key) and user.get(key) == data[key]:
                    return user
        return None

    def _upsert_user(self, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        user = self._find_user(data)
        if user is None:
            if not (data.get("email") or data.get("external_id")) or not data.get("name"):
                raise Rejection(422, "a new user needs name and email or external_id")
            now = _iso(time.time())
            user = {"id": next(self._ids), "role": "end-user", "created_at": now, "user_fields": {}}
            self.users[user["id"]] = user
            created = True
        else:
            created = False
        fields = data.get("user_fields") or {}
        user.update({k: v for k, v in data.items() if k not in ("id", "user_fields")})
        user["user_fields"] = {**user.get("user_fields", {}), **fields}
        user["updated_at"] = _iso(time.time())
        return user, created

    async def _user_upsert(self, call: Call) -> web.Response:
        user, created = self._upsert_user(call.json["user"])
        return web.json_response({"user": user}, status=201 if created else 200)

    async def _user_upsert_many(self, call: Call) -> web.Response:
        users = call.json["users"]
        if len(users) > MANY_LIMIT:
            raise Rejection(400, f"at most {MANY_LIMIT} users per create_or_update_many")
        job_id = f"J{next(self._ids)}"
        job = {
            "id": job_id,
            "status": "queued",
            "total": len(users),
            "progress": 0,
            "url": f"{self.base_url}/api/v2/job_statuses/{job_id}",
            "results": None,
        }
        self.job_statuses[job_id] = job
        self._pending_jobs[job_id] = users  # applied on the next poll, like a real async job
        return web.json_response({"job_status": job})

    async def _job_show(self, call: Call) -> web.Response:
        job = self.job_statuses.get(call.params["job_id"])
        if job is None:
            raise Rejection(404, "job status not found", violation=False)
        pending = self._pending_jobs.pop(job["id"], None)
        if pending is not None:
            results = []
            for index, data in enumerate(pending):
                try:
                    user, created = self._upsert_user(data)
                except Rejection as rejection:
                    results.append(
                        {"index": index, "error": "UserInvalid", "details": rejection.reason}
                    )
                    continue
                results.append(
                    {
                        "index": index,
                        "id": user["id"],
                        "email": user.get("email"),
                        "action": "create" if created else "update",
                        "status": "Created" if created else "Updated",
                        "success": True,
                    }
                )
            job.update(status="completed", progress=len(pending), results=results)
        return web.json_response({"job_status": job})

    async def _user_search(self, call: Call) -> web.Response:
        query = call.query.get("query", "")
        external_id = call.query.get("external_id")
        term = query.split(":", 1)[1] if ":" in query else query
        found = [
            u
            for u in self.users.values()
            if (external_id and u.get("external_id") == external_id)
            or (term and term in (u.get("email"), u.get("name"), u.get("external_id")))
        ]
        return web.json_response(
            {"users": found, "count": len(found), "next_page": None, "previous_page": None}
        )

    async def _user_show(self, call: Call) -> web.Response:
        user = self.users.get(int(call.params["user_id"]))
        if user is None:
            raise Rejection(404, "user not found", violation=False)
        return web.json_response({"user": user})

    def _user(self, call: Call) -> dict[str, Any]:
        user = self.users.get(int(call.params["user_id"]))
        if user is None:
            raise Rejection(404, "user not found", violation=False)
        return user

    async def _me(self, call: Call) -> web.Response:
        return web.json_response({"user": self.api_user})

    async def _user_update(self, call: Call) -> web.Response:
        user = self._user(call)
        data = call.json["user"]
        fields = data.get("user_fields") or {}
        user.update({k: v for k, v in data.items() if k not in ("id", "user_fields")})
        user["user_fields"] = {**user.get("user_fields", {}), **fields}
        user["updated_at"] = _iso(time.time())
        return web.json_response({"user": user})

    def _identities_of(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        """A user's email identities: the primary one is the user's `email`."""
        found = self.identities.setdefault(user["id"], [])
        if user.get("email") and not any(i["value"] == user["email"] for i in found):
            found.append({"id": next(self._ids), "user_id": user["id"], "type": "email",
                          "value": user["email"], "verified": True, "primary": True})
        for identity in found:
            identity["primary"] = identity["value"] == user.get("email")
        return found

    async def _identities_list(self, call: Call) -> web.Response:
        found = self._identities_of(self._user(call))
        return web.json_response({"identities": found, "count": len(found),
                                  "next_page": None, "previous_page": None})

    async def _identity_create(self, call: Call) -> web.Response:
        user = self._user(call)
        data = (call.json or {}).get("identity")
        if not isinstance(data, dict) or data.get("type") != "email" or not data.get("value"):
            raise Rejection(422, "identity needs type email and a value")
        found = self._identities_of(user)
        identity = {"id": next(self._ids), "user_id": user["id"], "type": "email",
                    "value": str(data["value"]), "verified": bool(data.get("skip_verify_email")),
                    "primary": False}
        found.append(identity)
        return web.json_response({"identity": identity}, status=201)

    async def _identity_primary(self, call: Call) -> web.Response:
        user = self._user(call)
        wanted = int(call.params["user_identity_id"])
        identity = next((i for i in self._identities_of(user) if i["id"] == wanted), None)
        if identity is None:
            raise Rejection(404, "identity not found", violation=False)
        user["email"] = identity["value"]
        return web.json_response({"identities": self._identities_of(user)})

    async def _user_event(self, call: Call) -> web.Response:
        user = self._user(call)
        event = call.json["event"]
        if event["source"] == "zendesk":  # reserved for Zendesk's own events
            raise Rejection(400, "'zendesk' is a protected event source", violation=False)
        self.user_events.setdefault(user["id"], []).append(
            {**call.json, "received_at": _iso(time.time())}
        )
        return web.json_response(
            {"profile_id": f"P{user['id']}", "status": "received", "user_id": str(user["id"])},
            status=202,
        )

    async def _user_memberships(self, call: Call) -> web.Response:
        user = self._user(call)
        found = [m for m in self.memberships.values() if m["user_id"] == user["id"]]
        return web.json_response(
            {"organization_memberships": found, "count": len(found), "next_page": None,
             "previous_page": None}
        )

    async def _organization_fields(self, call: Call) -> web.Response:
        return web.json_response(
            {
                "organization_fields": self.organization_fields,
                "count": len(self.organization_fields),
                "next_page": None,
                "previous_page": None,
            }
        )

    async def _user_fields(self, call: Call) -> web.Response:
        return web.json_response(
            {
                "user_fields": self.user_fields,
                "count": len(self.user_fields),
                "next_page": None,
                "previous_page": None,
            }
        )

    # -- tickets ---------------------------------------------------------------------------
    def _ticket(self, call: Call) -> dict[str, Any]:
        ticket = self.tickets.get(int(call.params["ticket_id"]))
        if ticket is None:
            raise Rejection(404, "ticket not found", violation=False)
        return ticket

    def _apply_ticket(self, ticket: dict[str, Any], data: dict[str, Any]) -> None:
        comment = data.get("comment")
        if comment is not None:
            ticket.setdefault("_comments", []).append(comment)
        requester = data.get("requester")
        if isinstance(requester, dict):
            ticket["requester_id"] = self._upsert_user(requester)[0]["id"]
        ticket.update({k: v for k, v in data.items() if k not in ("comment", "requester")})
        stamp = time.time()
        ticket["updated_at"], ticket["_updated_ts"] = _iso(stamp), stamp

    async def _ticket_create(self, call: Call) -> web.Response:
        data = (call.json or {}).get("ticket")
        if not isinstance(data, dict) or not data.get("comment"):
            raise Rejection(422, "ticket.comment is required")
        ticket = self.seed_ticket(status="new")
        self._apply_ticket(ticket, data)
        return web.json_response({"ticket": self._public(ticket)}, status=201)

    async def _ticket_show(self, call: Call) -> web.Response:
        return web.json_response({"ticket": self._public(self._ticket(call))})

    async def _ticket_update(self, call: Call) -> web.Response:
        ticket = self._ticket(call)
        self._apply_ticket(ticket, (call.json or {}).get("ticket") or {})
        audit = {"id": next(self._ids), "ticket_id": ticket["id"], "created_at": _iso(time.time())}
        return web.json_response({"ticket": self._public(ticket), "audit": audit})

    async def _incremental_tickets(self, call: Call) -> web.Response:
        cursor, start = call.query.get("cursor"), call.query.get("start_time")
        # a cursor is the (updated_at, id) of the last ticket handed out: stable and resumable
        after: tuple[float, int]
        if cursor is not None:
            stamp, last_id = json.loads(base64.urlsafe_b64decode(cursor))
            after = (float(stamp), int(last_id))
        elif start is not None:
            after = (float(start) - 1e-9, 0)
        else:
            raise Rejection(400, "start_time or cursor is required")
        ordered = sorted(self.tickets.values(), key=lambda t: (t["_updated_ts"], t["id"]))
        remaining = [t for t in ordered if (t["_updated_ts"], t["id"]) > after]
        page = remaining[: self.page_size]
        last = (page[-1]["_updated_ts"], page[-1]["id"]) if page else after
        next_cursor = base64.urlsafe_b64encode(json.dumps(list(last)).encode()).decode()
        return web.json_response(
            {
                "tickets": [self._public(t) for t in page],
                "after_cursor": next_cursor,
                "before_cursor": cursor,
                "after_url": f"{self.base_url}{call.request.path}?cursor={next_cursor}",
                "end_of_stream": len(remaining) <= self.page_size,
            }
        )

    async def _ratings(self, call: Call) -> web.Response:
        return web.json_response(
            {
                "satisfaction_ratings": self.satisfaction_ratings,
                "count": len(self.satisfaction_ratings),
                "next_page": None,
                "previous_page": None,
            }
        )

    # -- organizations ---------------------------------------------------------------------
    async def _org_upsert(self, call: Call) -> web.Response:
        data = (call.json or {}).get("organization")
        if not isinstance(data, dict) or not (data.get("name") or data.get("external_id")):
            raise Rejection(422, "organization.name or organization.external_id is required")
        key = "external_id" if data.get("external_id") else "name"
        org = next((o for o in self.organizations.values() if o.get(key) == data[key]), None)
        status = 200 if org else 201
        if org is None:
            org = {"id": next(self._ids), "created_at": _iso(time.time())}
            self.organizations[org["id"]] = org
        org.update(data)
        return web.json_response({"organization": org}, status=status)

    async def _membership_create(self, call: Call) -> web.Response:
        data = (call.json or {}).get("organization_membership")
        if (
            not isinstance(data, dict)
            or data.get("user_id") not in self.users
            or data.get("organization_id") not in self.organizations
        ):
            raise Rejection(
                422, "organization_membership needs an existing user_id and organization_id"
            )
        membership = {
            "id": next(self._ids),
            "user_id": data["user_id"],
            "organization_id": data["organization_id"],
            "default": None,
        }
        self.memberships[membership["id"]] = membership
        return web.json_response({"organization_membership": membership}, status=201)

    async def _membership_del(self, call: Call) -> web.Response:
        if self.memberships.pop(int(call.params["membership_id"]), None) is None:
            raise Rejection(404, "membership not found", violation=False)
        return web.Response(status=204)
