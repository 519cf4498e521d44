"""IntercomSink against FakeIntercom (validated by Intercom's 2.14 OpenAPI file)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from connectors.delivery.budget import RequestBudget
from connectors.delivery.coalesce import LastWrittenCache
from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from connectors.intercom.client import IntercomClient, intercom_http
from connectors.intercom.sink import IntercomSink
from connectors.testing.fakes import FakeFactory, FakeIntercom
from contracts.actions import Action

pytest_plugins = ["connectors.testing.pytest_plugin"]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def act(n: int | str, operation: str, person: str = "ann@example.com", **payload: Any) -> Action:
    return Action.for_transition(
        f"t{n}",
        sink="intercom",
        operation=operation,
        customer_key=f"ck-{person}",
        person=person,
        payload=payload,
        one_off=operation != "update_contact",
    )


def make_sink(fake: FakeIntercom, session: aiohttp.ClientSession) -> IntercomSink:
    bucket = TokenBucket(1000, 100)
    http = intercom_http(session, fake.token, base_url=fake.base_url, bucket=bucket)
    return IntercomSink(
        client=IntercomClient(http),
        admin_id="991",
        bucket=bucket,
        store=InMemoryDeliveredStore(),
        dead_letters=InMemoryDeadLetterWriter(),
        policy=RetryPolicy(base=0.01, max_backoff=0.05, deadline=5.0),
        rng=random.Random(3),
    )


class TestContacts:
    """Contacts are upserted; a 409 on create means "exists"."""

    async def test_create_then_update_uses_cached_id(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        sink = make_sink(fake, session)
        await sink.deliver([act(1, "update_contact", attributes={"has_open_ticket": True})])
        await sink.deliver([act(2, "update_contact", attributes={"has_open_ticket": False,
                                                                   "name": "Ann"})])
        (contact,) = fake.contacts.values()
        assert contact["custom_attributes"] == {"has_open_ticket": False}
        assert contact["name"] == "Ann" and contact["email"] == "ann@example.com"
        assert len(fake.requests_to("POST", "/contacts/search")) == 1  # then the cache

    async def test_conflict_on_create_updates_existing(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        await make_sink(fake, session).deliver([act(1, "update_contact", attributes={"a": 1})])
        # another worker whose search lags behind the create: POST -> 409 -> update
        other = make_sink(fake, session)
        other.client = LaggingSearch(other.client.http)
        report = await other.deliver([act(2, "update_contact", attributes={"a": 2})])
        assert report.delivered == 1
        assert [r.status for r in fake.requests_to("POST", "/contacts")] == [200, 409]
        (contact,) = fake.contacts.values()
        assert contact["custom_attributes"] == {"a": 2}
        assert other.identities.get("ann@example.com") == contact["id"]

    async def test_tag_contact_and_unsubscribe(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        tag = fake.add_tag("vip")
        sink = make_sink(fake, session)
        report = await sink.deliver([
            act(1, "update_contact", attributes={"unsubscribed_from_emails": True}),
            act(2, "tag_contact", tag_id=tag),
        ])
        assert report.delivered == 2
        (contact,) = fake.contacts.values()
        assert contact["unsubscribed_from_emails"] is True
        assert [t["name"] for t in contact["tags"]["data"]] == ["vip"]


class TestProfileSync:
    """R10's writes: the contact by id (a new email is no new contact), companies upserted."""

    async def test_contact_id_updates_that_contact_without_search(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        seeded = fake.seed_contact("ann@example.com")
        sink = make_sink(fake, session)
        action = act(1, "update_contact", attributes={"email": "ann@new.example",
                                                      "plan": "gold"}, contact_id=seeded["id"])
        assert (await sink.deliver([action])).delivered == 1
        assert fake.requests_to("POST", "/contacts/search") == []
        assert list(fake.contacts) == [seeded["id"]]
        assert seeded["email"] == "ann@new.example"
        assert seeded["custom_attributes"] == {"plan": "gold"}

    async def test_update_company_fields_and_string_custom_attributes(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        sink = make_sink(fake, session)
        attrs = {"name": "Acme", "plan": "enterprise", "size": "250", "vip": True, "seats": 12}
        action = Action.for_transition("t1", sink="intercom", operation="update_company",
                                       customer_key="organization:zendesk:77",
                                       person="zendesk-org-77", payload={"attributes": attrs})
        assert (await sink.deliver([action])).delivered == 1
        [post] = fake.requests_to("POST", "/companies")
        assert post.json == {"company_id": "zendesk-org-77", "name": "Acme",
                             "plan": "enterprise", "size": 250,
                             "custom_attributes": {"vip": "true", "seats": "12"}}
        assert fake.companies["zendesk-org-77"]["name"] == "Acme"


    async def test_a_platform_checked_value_is_written_again_after_a_change_there(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        seeded = fake.seed_contact("ann@example.com")
        sink = make_sink(fake, session)
        sink.last_written = LastWrittenCache()
        gold = {"attributes": {"plan": "gold"}, "contact_id": seeded["id"]}
        await sink.deliver([act(1, "update_contact", **gold)])
        seeded["custom_attributes"]["plan"] = "silver"  # someone changed it in Intercom
        await sink.deliver([act(2, "update_contact", **gold)])  # a repeat to the cache
        assert seeded["custom_attributes"]["plan"] == "silver"
        await sink.deliver([act(3, "update_contact", **gold, platform_checked=True)])
        assert seeded["custom_attributes"]["plan"] == "gold"

    async def test_attach_company_creates_it_when_missing_and_attaches(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        seeded = fake.seed_contact("ann@example.com")
        sink = make_sink(fake, session)
        action = act(1, "attach_company", contact_id=seeded["id"], company_id="zendesk-org-77")
        assert (await sink.deliver([action])).delivered == 1
        company = fake.companies["zendesk-org-77"]
        assert seeded["companies"]["data"] == [{"type": "company", "id": company["id"]}]

    async def test_gone_contact_id_falls_back_to_the_person(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        seeded = fake.seed_contact("ann@example.com")
        sink = make_sink(fake, session)
        action = act(1, "update_contact", attributes={"name": "Ann"}, contact_id="merged-away")
        assert (await sink.deliver([action])).delivered == 1
        assert seeded["name"] == "Ann" and len(fake.contacts) == 1


class LaggingSearch(IntercomClient):
    """Search that does not see contacts yet (Intercom's search lags behind creates)."""

    async def find_contact(self, field: str, value: str, budget: RequestBudget) -> str | None:
        await budget.take()
        return None


class TestConversations:
    """Replies, notes, parts, tags and data events."""

    async def test_conversation_operations(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        conv = fake.seed_conversation()
        tag = fake.add_tag("zendesk-linked")
        sink = make_sink(fake, session)
        cid = conv["id"]
        report = await sink.deliver([
            act(1, "note_conversation", conversation_id=cid, body="Zendesk #12 solved"),
            act(2, "reply_conversation", conversation_id=cid, body="We fixed it"),
            act(3, "tag_conversation", conversation_id=cid, tag_id=tag),
            act(4, "assign_conversation", conversation_id=cid, assignee_id="77"),
            act(5, "close_conversation", conversation_id=cid),
            act(6, "data_event", event_name="entered-churn-risk", created_at=1_700_000_000,
                metadata={"segment": "churn"}),
        ])
        assert report.delivered == 6 and report.dead_lettered == 0
        kinds = [p["part_type"] for p in conv["conversation_parts"]["conversation_parts"]]
        assert kinds == ["note", "comment", "assignment", "close"]
        assert conv["state"] == "closed" and conv["admin_assignee_id"] == "77"
        assert fake.events[0]["event_name"] == "entered-churn-risk"

    async def test_missing_conversation_goes_to_dlq(
        self, fake_intercom: FakeFactory[FakeIntercom], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_intercom()
        sink = make_sink(fake, session)
        report = await sink.deliver([act(1, "close_conversation", conversation_id="404")])
        assert report.dead_lettered == 1
        assert isinstance(sink.dead_letters, InMemoryDeadLetterWriter)
        letter = sink.dead_letters.letters[0]
        assert letter.status == 404 and "not_found" in (letter.response_body or "")
