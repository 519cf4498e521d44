"""Intercom REST API 2.14 client (SPEC S6, recipes R1 R9 R12 R13 R15).

Every request carries `Intercom-Version: 2.14` and `Authorization: Bearer <token>` (see
`intercom_http`). Every method takes a `RequestBudget` and spends one token per request.

    CreateContact      POST /contacts                 409 when email/external_id exists
    UpdateContact      PUT  /contacts/{id}
    SearchContacts     POST /contacts/search          lags behind creates (eventually)
    attachTagToContact POST /contacts/{id}/tags       {"id": tag_id}
    replyConversation  POST /conversations/{id}/reply comment | note, as an admin
    manageConversation POST /conversations/{id}/parts close | open | assignment | snooze
    attachTagToConversation POST /conversations/{id}/tags {"id", "admin_id"}
    createDataEvent    POST /events
    identifyAdmin      GET  /me                       the admin the token acts as
"""

from __future__ import annotations

from typing import Any

import aiohttp

from connectors.delivery.budget import RequestBudget
from connectors.delivery.http import HttpClient
from connectors.delivery.ratelimit import TokenBucket

API_VERSION = "2.14"
BASE_URL = "https://api.intercom.io"


def intercom_http(
    session: aiohttp.ClientSession,
    token: str,
    *,
    base_url: str = BASE_URL,
    bucket: TokenBucket | None = None,
    timeout: float = 10.0,
) -> HttpClient:
    headers = {
        "Authorization": f"Bearer {token}",
        "Intercom-Version": API_VERSION,
        "Accept": "application/json",
    }
    return HttpClient(session, base_url=base_url, bucket=bucket, headers=headers, timeout=timeout)


class IntercomClient:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    async def _post(self, budget: RequestBudget, path: str, body: dict[str, Any]) -> Any:
        await budget.take()
        response = await self.http.post(path, json=body)
        return response.json() if response.body else None

    async def me(self, budget: RequestBudget) -> dict[str, Any]:
        """The admin the access token acts as: the author of everything supportsync writes."""
        await budget.take()
        response = await self.http.get("/me")
        body = response.json() if response.body else None
        return dict(body) if isinstance(body, dict) else {}

    # -- contacts --------------------------------------------------------------------------

    async def create_contact(self, body: dict[str, Any], budget: RequestBudget) -> dict[str, Any]:
        found = await self._post(budget, "/contacts", body)
        return found if isinstance(found, dict) else {}

    async def update_contact(
        self, contact_id: str, body: dict[str, Any], budget: RequestBudget
    ) -> dict[str, Any]:
        await budget.take()
        response = await self.http.put(f"/contacts/{contact_id}", json=body)
        found = response.json() if response.body else None
        return found if isinstance(found, dict) else {}

    async def create_or_update_company(
        self, body: dict[str, Any], budget: RequestBudget
    ) -> dict[str, Any]:
        """POST /companies: the company with `body["company_id"]`, created when missing."""
        found = await self._post(budget, "/companies", body)
        return found if isinstance(found, dict) else {}

    async def attach_company(
        self, contact_id: str, company_id: str, budget: RequestBudget
    ) -> None:
        """POST /contacts/{id}/companies: `company_id` is Intercom's id of the company."""
        await self._post(budget, f"/contacts/{contact_id}/companies", {"id": company_id})

    async def find_contact(self, field: str, value: str, budget: RequestBudget) -> str | None:
        """The id of the contact whose `field` (email or external_id) equals `value`."""
        query = {"query": {"field": field, "operator": "=", "value": value}}
        found = await self._post(budget, "/contacts/search", query)
        data = found.get("data") if isinstance(found, dict) else None
        for contact in data if isinstance(data, list) else []:
            if isinstance(contact, dict) and contact.get("id"):
                return str(contact["id"])
        return None

    async def tag_contact(self, contact_id: str, tag_id: str, budget: RequestBudget) -> None:
        await self._post(budget, f"/contacts/{contact_id}/tags", {"id": tag_id})

    async def untag_contact(self, contact_id: str, tag_id: str, budget: RequestBudget) -> None:
        await budget.take()
        await self.http.delete(f"/contacts/{contact_id}/tags/{tag_id}")

    # -- conversations ---------------------------------------------------------------------

    async def reply(
        self, conversation_id: str, body: dict[str, Any], budget: RequestBudget
    ) -> None:
        await self._post(budget, f"/conversations/{conversation_id}/reply", body)

    async def manage(
        self, conversation_id: str, body: dict[str, Any], budget: RequestBudget
    ) -> None:
        await self._post(budget, f"/conversations/{conversation_id}/parts", body)

    async def tag_conversation(
        self, conversation_id: str, tag_id: str, admin_id: str, budget: RequestBudget
    ) -> None:
        body = {"id": tag_id, "admin_id": admin_id}
        await self._post(budget, f"/conversations/{conversation_id}/tags", body)

    async def create_message(self, body: dict[str, Any], budget: RequestBudget) -> dict[str, Any]:
        found = await self._post(budget, "/messages", body)
        return found if isinstance(found, dict) else {}

    # -- data events -----------------------------------------------------------------------

    async def create_event(self, body: dict[str, Any], budget: RequestBudget) -> None:
        await self._post(budget, "/events", body)
