"""Zendesk Support API client (`/api/v2`, SPEC S6, S5 R4/R5/R7/R19).

Auth is HTTP basic `{email}/token:{api_token}` (set on the injected `HttpClient`); the base
URL is `SUPPORTSYNC_ZENDESK_BASE_URL` or `https://{ZENDESK_SUBDOMAIN}.zendesk.com`. Every
method takes a `RequestBudget` and spends one token per HTTP request, so lookups and job
polls count against the account's rate limit like the main request does.

Endpoints (operationId in Zendesk's oas.yaml):
    CreateOrUpdateUser          POST   /api/v2/users/create_or_update
    CreateOrUpdateManyUsers     POST   /api/v2/users/create_or_update_many  (<= 100, job)
    ShowJobStatus               GET    /api/v2/job_statuses/{id}            (polled)
    SearchUsers                 GET    /api/v2/users/search?query=|external_id=
    UpdateUser                  PUT    /api/v2/users/{user_id}
    ShowCurrentUser             GET    /api/v2/users/me                     (our API user)
    ListUserIdentities / CreateUserIdentity / MakeUserIdentityPrimary
                                       /api/v2/users/{user_id}/identities[/{id}/make_primary]
    ListUserFields              GET    /api/v2/user_fields                  (cached)
    ListOrganizationFields      GET    /api/v2/organization_fields          (cached)
    Events API: track an event  POST   /api/v2/users/{user_id}/events       (202)
    CreateTicket / ShowTicket / UpdateTicket   /api/v2/tickets[/{id}]
    CreateOrUpdateOrganization  POST   /api/v2/organizations/create_or_update
    CreateOrganizationMembership / DeleteOrganizationMembership
    ListOrganizationMemberships GET    /api/v2/users/{user_id}/organization_memberships
"""

from __future__ import annotations

from typing import Any

from connectors.delivery.budget import RequestBudget
from connectors.delivery.clock import SYSTEM_CLOCK, Clock
from connectors.delivery.errors import ServerError
from connectors.delivery.http import HttpClient
from connectors.delivery.retry import RetryPolicy, call_with_retry

MANY_LIMIT = 100
JOB_DONE = frozenset({"completed", "failed", "killed"})


class ZendeskClient:
    def __init__(
        self,
        http: HttpClient,
        *,
        job_poll_interval: float = 0.5,
        job_timeout: float = 60.0,
        user_fields_ttl: float = 300.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.http = http
        self.job_poll_interval = job_poll_interval
        self.job_timeout = job_timeout
        self.user_fields_ttl = user_fields_ttl
        self.clock = clock
        self._fields: set[str] | None = None
        self._fields_at = 0.0
        self._org_fields: set[str] | None = None
        self._org_fields_at = 0.0
        self._poll_policy = RetryPolicy(base=0.1, max_backoff=2.0, deadline=job_timeout)

    async def _json(
        self, budget: RequestBudget, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any]:
        await budget.take()
        response = await self.http.request(method, path, **kwargs)
        body = response.json() if response.body else None
        return body if isinstance(body, dict) else {}

    # -- users -----------------------------------------------------------------------------

    async def create_or_update_user(
        self, user: dict[str, Any], budget: RequestBudget
    ) -> dict[str, Any]:
        path = "/api/v2/users/create_or_update"
        body = await self._json(budget, "POST", path, json={"user": user})
        return dict(body.get("user") or {})

    async def create_or_update_users(
        self, users: list[dict[str, Any]], budget: RequestBudget
    ) -> dict[str, Any]:
        """Submit the batch job and wait for it; returns the finished job status."""
        if len(users) > MANY_LIMIT:
            raise ValueError(f"at most {MANY_LIMIT} users per job")
        path = "/api/v2/users/create_or_update_many"
        body = await self._json(budget, "POST", path, json={"users": users})
        return await self.wait_job(dict(body.get("job_status") or {}), budget)

    async def wait_job(self, job: dict[str, Any], budget: RequestBudget) -> dict[str, Any]:
        started = self.clock.monotonic()
        while job.get("status") not in JOB_DONE:
            if self.clock.monotonic() - started > self.job_timeout:
                raise ServerError(504, "job status did not finish in time")
            await self.clock.sleep(self.job_poll_interval)
            job_id = str(job.get("id"))

            async def poll(job_id: str = job_id) -> dict[str, Any]:
                body = await self._json(budget, "GET", f"/api/v2/job_statuses/{job_id}")
                return dict(body.get("job_status") or {})

            job = await call_with_retry(poll, self._poll_policy, clock=self.clock)
        return job

    async def search_users(
        self, budget: RequestBudget, *, email: str | None = None, external_id: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"external_id": external_id} if external_id else {"query": f"email:{email}"}
        body = await self._json(budget, "GET", "/api/v2/users/search", params=params)
        users = body.get("users")
        return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []

    async def user_field_keys(self, budget: RequestBudget) -> set[str]:
        """Keys of the account's custom user fields (cached for `user_fields_ttl`)."""
        now = self.clock.monotonic()
        if self._fields is None or now - self._fields_at > self.user_fields_ttl:
            body = await self._json(budget, "GET", "/api/v2/user_fields")
            fields = body.get("user_fields") or []
            self._fields = {str(f["key"]) for f in fields if isinstance(f, dict) and "key" in f}
            self._fields_at = now
        return self._fields

    async def organization_field_keys(self, budget: RequestBudget) -> set[str]:
        """Keys of the account's custom organization fields (cached like user fields)."""
        now = self.clock.monotonic()
        if self._org_fields is None or now - self._org_fields_at > self.user_fields_ttl:
            body = await self._json(budget, "GET", "/api/v2/organization_fields")
            fields = body.get("organization_fields") or []
            self._org_fields = {
                str(f["key"]) for f in fields if isinstance(f, dict) and "key" in f
            }
            self._org_fields_at = now
        return self._org_fields

    async def update_user(
        self, user_id: int, user: dict[str, Any], budget: RequestBudget
    ) -> dict[str, Any]:
        body = await self._json(budget, "PUT", f"/api/v2/users/{user_id}", json={"user": user})
        return dict(body.get("user") or {})

    async def email_identities(self, user_id: int, budget: RequestBudget) -> list[dict[str, Any]]:
        """The user's email identities (first page: a person has few)."""
        body = await self._json(budget, "GET", f"/api/v2/users/{user_id}/identities",
                                params={"type[]": "email"})
        found = body.get("identities")
        return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []

    async def add_email_identity(
        self, user_id: int, email: str, budget: RequestBudget
    ) -> dict[str, Any]:
        identity = {"type": "email", "value": email, "skip_verify_email": True}
        body = await self._json(budget, "POST", f"/api/v2/users/{user_id}/identities",
                                json={"identity": identity})
        return dict(body.get("identity") or {})

    async def make_identity_primary(
        self, user_id: int, identity_id: int, budget: RequestBudget
    ) -> None:
        path = f"/api/v2/users/{user_id}/identities/{identity_id}/make_primary"
        await self._json(budget, "PUT", path)

    async def current_user(self, budget: RequestBudget) -> dict[str, Any]:
        """The user the API token belongs to: the author of everything supportsync writes."""
        body = await self._json(budget, "GET", "/api/v2/users/me")
        return dict(body.get("user") or {})

    async def track_user_event(
        self, user_id: int, profile: dict[str, Any], event: dict[str, Any],
        budget: RequestBudget,
    ) -> dict[str, Any]:
        """Events API: store `event` on the user's timeline (answers 202)."""
        path = f"/api/v2/users/{user_id}/events"
        return await self._json(budget, "POST", path, json={"profile": profile, "event": event})

    # -- tickets ---------------------------------------------------------------------------

    async def create_ticket(self, ticket: dict[str, Any], budget: RequestBudget) -> dict[str, Any]:
        body = await self._json(budget, "POST", "/api/v2/tickets", json={"ticket": ticket})
        return dict(body.get("ticket") or {})

    async def show_ticket(self, ticket_id: int, budget: RequestBudget) -> dict[str, Any]:
        body = await self._json(budget, "GET", f"/api/v2/tickets/{ticket_id}")
        return dict(body.get("ticket") or {})

    async def update_ticket(
        self, ticket_id: int, ticket: dict[str, Any], budget: RequestBudget
    ) -> dict[str, Any]:
        path = f"/api/v2/tickets/{ticket_id}"
        body = await self._json(budget, "PUT", path, json={"ticket": ticket})
        return dict(body.get("ticket") or {})

    # -- organizations ---------------------------------------------------------------------

    async def create_or_update_organization(
        self, organization: dict[str, Any], budget: RequestBudget
    ) -> dict[str, Any]:
        path = "/api/v2/organizations/create_or_update"
        body = await self._json(budget, "POST", path, json={"organization": organization})
        return dict(body.get("organization") or {})

    async def create_membership(
        self, user_id: int, organization_id: int, budget: RequestBudget
    ) -> dict[str, Any]:
        data = {"organization_membership": {"user_id": user_id, "organization_id": organization_id}}
        body = await self._json(budget, "POST", "/api/v2/organization_memberships", json=data)
        return dict(body.get("organization_membership") or {})

    async def delete_membership(self, membership_id: int, budget: RequestBudget) -> None:
        await budget.take()
        await self.http.request("DELETE", f"/api/v2/organization_memberships/{membership_id}")

    async def user_memberships(self, user_id: int, budget: RequestBudget) -> list[dict[str, Any]]:
        path = f"/api/v2/users/{user_id}/organization_memberships"
        body = await self._json(budget, "GET", path)
        found = body.get("organization_memberships")
        return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []
