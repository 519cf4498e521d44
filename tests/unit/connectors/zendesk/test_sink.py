"""ZendeskSink against FakeZendesk (validated by Zendesk's oas.yaml)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.http import HttpClient
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from connectors.testing.fakes import FakeFactory, FakeZendesk
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.sink import ZendeskSink
from contracts.actions import Action

pytest_plugins = ["connectors.testing.pytest_plugin"]

ATTRIBUTE_OPS = {"update_user", "update_organization"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def act(n: int | str, operation: str, person: str = "ann@example.com", **payload: Any) -> Action:
    return Action.for_transition(
        f"t{n}",
        sink="zendesk",
        operation=operation,
        customer_key=f"ck-{person}",
        person=person,
        payload=payload,
        one_off=operation not in ATTRIBUTE_OPS,
    )


def make_sink(fake: FakeZendesk, session: aiohttp.ClientSession) -> ZendeskSink:
    bucket = TokenBucket(1000, 100)
    auth = ("agent@example.com/token", "test-token")
    http = HttpClient(session, base_url=fake.base_url, bucket=bucket, auth=auth)
    return ZendeskSink(
        client=ZendeskClient(http, job_poll_interval=0.01),
        bucket=bucket,
        store=InMemoryDeliveredStore(),
        dead_letters=InMemoryDeadLetterWriter(),
        policy=RetryPolicy(base=0.01, max_backoff=0.05, deadline=5.0),
        rng=random.Random(2),
    )


def letters(sink: ZendeskSink) -> InMemoryDeadLetterWriter:
    assert isinstance(sink.dead_letters, InMemoryDeadLetterWriter)
    return sink.dead_letters


class TestUsers:
    """Users are upserted; custom fields only when the account has them."""

    async def test_upsert_drops_unknown_fields(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_zendesk()
        fake.user_fields = [{"id": 1, "key": "plan_tier", "type": "text", "title": "Plan"}]
        sink = make_sink(fake, session)
        attrs = {"name": "Ann", "plan_tier": "pro", "favourite_colour": "red"}
        report = await sink.deliver([act(1, "update_user", attributes=attrs, verified=True)])
        assert report.delivered == 1
        (user,) = fake.users.values()
        assert user["email"] == "ann@example.com" and user["user_fields"] == {"plan_tier": "pro"}
        assert sink.dropped_fields == {"favourite_colour": 1}

    async def test_burst_uses_create_or_update_many(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_zendesk()
        sink = make_sink(fake, session)
        actions = [
            act(i, "update_user", person=f"u{i}@example.com", attributes={"name": f"U{i}"})
            for i in range(150)
        ]
        actions.append(act(999, "update_user", person="nameless@example.com", attributes={}))
        actions.append(act(998, "update_user", person="new@example.com", attributes={"phone": "1"}))
        report = await sink.deliver(actions)
        assert len(fake.requests_to("POST", "/api/v2/users/create_or_update_many")) == 2
        assert len(fake.users) == 150
        # the new user without a name fails inside the job: dlq with Zendesk's error
        assert report.delivered == 151 and report.dead_lettered == 1
        assert "UserInvalid" in (letters(sink).letters[0].response_body or "")


class TestUpdateById:
    """With payload user_id the very user is updated: a new email moves, nobody is created."""

    async def test_email_and_custom_field_by_user_id(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_zendesk()
        fake.user_fields = [{"id": 1, "key": "plan_tier", "type": "text", "title": "Plan"}]
        fake.users[501] = {"id": 501, "email": "ann@example.com", "name": "Ann",
                           "role": "end-user", "user_fields": {}}
        sink = make_sink(fake, session)
        attrs = {"email": "ann@new.example", "plan_tier": "gold"}
        report = await sink.deliver([act(1, "update_user", attributes=attrs, user_id="501")])
        assert report.delivered == 1
        [put] = fake.requests_to("PUT", "/api/v2/users/501")
        assert put.json == {"user": {"user_fields": {"plan_tier": "gold"}}}
        # the new email becomes the primary identity (Zendesk's PUT would only add one)
        [added] = fake.requests_to("POST", "/api/v2/users/501/identities")
        assert added.json == {"identity": {"type": "email", "value": "ann@new.example",
                                           "skip_verify_email": True}}
        assert len(fake.requests_to("PUT", "/api/v2/users/501/identities/.*/make_primary")) == 1
        assert fake.users[501]["email"] == "ann@new.example"
        assert list(fake.users) == [501]
        assert fake.requests_to("POST", "/api/v2/users/create_or_update.*") == []

    async def test_an_email_the_user_has_is_only_made_primary(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_zendesk()
        fake.users[502] = {"id": 502, "email": "bo@example.com", "name": "Bo",
                           "role": "end-user", "user_fields": {}}
        sink = make_sink(fake, session)
        same = act(1, "update_user", person="bo@example.com",
                   attributes={"email": "bo@example.com"}, user_id="502")
        assert (await sink.deliver([same])).delivered == 1
        assert fake.requests_to("PUT", "/api/v2/users/502/identities/.*") == []
        fake.identities[502].append({"id": 7, "user_id": 502, "type": "email",
                                     "value": "bo@work.example", "primary": False})
        other = act(2, "update_user", person="bo@example.com",
                    attributes={"email": "bo@work.example"}, user_id="502")
        assert (await sink.deliver([other])).delivered == 1
        assert fake.requests_to("POST", "/api/v2/users/502/identities") == []
        assert fake.users[502]["email"] == "bo@work.example"
        assert fake.requests_to("PUT", "/api/v2/users/502") == []


class TestTicketsAndOrganizations:
    """Tickets, internal notes, tags, organizations and memberships."""

    async def test_ticket_lifecycle(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_zendesk()
        sink = make_sink(fake, session)
        create = act(
            1, "create_ticket", ticket={"subject": "Churn risk", "priority": "high",
                                        "tags": ["proactive-outreach"]},
            note="context for the agent",
        )
        await sink.deliver([create])
        (ticket,) = fake.tickets.values()
        assert ticket["_comments"] == [{"body": "context for the agent", "public": False}]
        assert ticket["external_id"] == create.action_id
        update = act(2, "update_ticket", ticket_id=ticket["id"], priority="urgent",
                     add_tags=["vip"], group_id=5, note="VIP")
        report = await sink.deliver([update])
        assert report.delivered == 1
        assert ticket["priority"] == "urgent" and ticket["group_id"] == 5
        assert ticket["tags"] == ["proactive-outreach", "vip"]

    async def test_organization_membership_add_remove(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_zendesk()
        sink = make_sink(fake, session)
        await sink.deliver([
            act(1, "update_user", attributes={"name": "Ann"}),
            act(2, "update_organization", person="acme",
                attributes={"name": "Acme", "domain_names": ["acme.test"]}),
            act(3, "add_membership", organization_external_id="acme"),
        ])
        assert len(fake.memberships) == 1
        report = await sink.deliver([act(4, "remove_membership", organization_external_id="acme")])
        assert report.delivered == 1 and not fake.memberships

    async def test_unprocessable_goes_to_dlq_with_body(
        self, fake_zendesk: FakeFactory[FakeZendesk], session: aiohttp.ClientSession
    ) -> None:
        fake = await fake_zendesk()
        fake.faults.add(422, path="/api/v2/tickets")
        sink = make_sink(fake, session)
        report = await sink.deliver([
            act(1, "create_ticket", ticket={"subject": "s", "comment": {"body": "b"}}),
            act(2, "update_organization", person="", attributes={}),  # refused before sending
        ])
        assert report.dead_lettered == 2 and not fake.tickets
        by_op = {letter.action.operation: letter for letter in letters(sink).letters}
        first, second = by_op["create_ticket"], by_op["update_organization"]
        assert first.status == 422 and "RecordInvalid" in (first.response_body or "")
        assert second.error_class == "InvalidForZendesk"
        assert len(fake.requests) == 1
