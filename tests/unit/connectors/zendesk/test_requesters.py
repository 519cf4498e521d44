"""RequesterDirectory: requester ids of Zendesk ticket events become emails, cached."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp

from connectors.delivery.http import HttpClient
from connectors.testing.fakes import FakeZendesk
from connectors.zendesk.requesters import RequesterDirectory
from contracts.events import EventKind, Identities, SupportEvent, TicketInfo

NOW = datetime.now(UTC)
AUTH = ("agent@example.com/token", "test-token")


def ticket_event(requester: str, event_id: str = "e1", **ids: str) -> SupportEvent:
    return SupportEvent(
        event_id=event_id, source="zendesk", kind=EventKind.TICKET_OPENED, occurred_at=NOW,
        identities=Identities(zendesk_user_id=requester, **ids), ticket=TicketInfo(id="1"),
    )


class TestRequesterDirectory:
    """One GET per requester; unknown users and failures leave the event as it was."""

    async def test_email_filled_in_and_cached(self) -> None:
        async with FakeZendesk() as fake, aiohttp.ClientSession() as session:
            fake.users[501] = {"id": 501, "email": "Ann@Example.com", "external_id": "u-1",
                               "role": "end-user"}
            directory = RequesterDirectory(HttpClient(session, base_url=fake.base_url,
                                                      auth=AUTH))
            [first] = await directory.enrich([ticket_event("501")])
            [second] = await directory.enrich([ticket_event("501", "e2")])
            assert first.identities.email == "ann@example.com"
            assert first.identities.external_id == "u-1"
            assert second.identities.email == "ann@example.com"
            assert len(fake.requests_to("GET", "/api/v2/users/501")) == 1
            fake.assert_no_violations()

    async def test_unknown_user_and_events_with_an_email_untouched(self) -> None:
        async with FakeZendesk() as fake, aiohttp.ClientSession() as session:
            directory = RequesterDirectory(HttpClient(session, base_url=fake.base_url,
                                                      auth=AUTH))
            events = [ticket_event("999"), ticket_event("501", "e2", email="b@example.com")]
            assert await directory.enrich(events) == events
            assert len(fake.requests) == 1  # only the unknown requester was looked up

    async def test_unreachable_api_leaves_the_event_for_parking(self) -> None:
        async with aiohttp.ClientSession() as session:
            http = HttpClient(session, base_url="http://127.0.0.1:9", auth=AUTH, timeout=1.0)
            directory = RequesterDirectory(http, timeout_s=2.0)
            event = ticket_event("501")
            assert await asyncio.wait_for(directory.enrich([event]), 5) == [event]
