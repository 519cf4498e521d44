"""FakeZendesk: spec validation, believable behaviour, job statuses and cursor export."""

from __future__ import annotations

import pytest

from connectors.testing.fakes import FakeFactory, FakeZendesk
from tests.unit.connectors.testing.helpers import ZD_AUTH, send

pytest_plugins = ["connectors.testing.pytest_plugin"]


class TestZendeskValidation:
    """Requests are checked against Zendesk's published oas.yaml."""

    async def test_valid_create_or_update_user(
        self, fake_zendesk: FakeFactory[FakeZendesk]
    ) -> None:
        fake: FakeZendesk = await fake_zendesk()
        url = f"{fake.base_url}/api/v2/users/create_or_update"
        user = {"user": {"name": "Ada", "email": "ada@x.io"}}
        status, _, body = await send("POST", url, headers=ZD_AUTH, json=user)
        assert status == 201 and body["user"]["id"] in fake.users
        status, _, again = await send("POST", url, headers=ZD_AUTH, json=user)
        assert status == 200 and again["user"]["id"] == body["user"]["id"]
        assert fake.requests[0].json == user

    async def test_missing_required_field_is_violation(self) -> None:
        async with FakeZendesk() as fake:
            url = f"{fake.base_url}/api/v2/users/create_or_update"
            status, _, _ = await send("POST", url, headers=ZD_AUTH, json={"person": {}})
            assert status == 400
            [violation] = fake.take_violations()
            assert "'user' is a required property" in violation.reason

    async def test_wrong_type_is_violation(self) -> None:
        async with FakeZendesk() as fake:
            body = {"ticket": {"comment": {"body": "hi"}, "assignee_id": "not-an-int"}}
            status, _, _ = await send(
                "POST", f"{fake.base_url}/api/v2/tickets", headers=ZD_AUTH, json=body
            )
            assert status == 400 and "assignee_id" in fake.take_violations()[0].reason

    async def test_missing_auth_is_401_violation(self) -> None:
        async with FakeZendesk() as fake:
            status, _, _ = await send("GET", f"{fake.base_url}/api/v2/user_fields")
            assert status == 401 and fake.take_violations()[0].status == 401

    async def test_unknown_route_is_404_violation(self) -> None:
        async with FakeZendesk() as fake:
            status, _, _ = await send("GET", f"{fake.base_url}/api/v2/nope", headers=ZD_AUTH)
            assert status == 404 and len(fake.take_violations()) == 1

    async def test_context_manager_fails_on_violation(self) -> None:
        with pytest.raises(AssertionError, match="contract violation"):
            async with FakeZendesk() as fake:
                await send("GET", f"{fake.base_url}/api/v2/nope", headers=ZD_AUTH)


class TestZendeskBehaviour:
    """Jobs complete on the next poll; incremental export pages by cursor."""

    async def test_create_or_update_many_job_status(
        self, fake_zendesk: FakeFactory[FakeZendesk]
    ) -> None:
        fake: FakeZendesk = await fake_zendesk()
        users = {"users": [{"name": f"U{i}", "email": f"u{i}@x.io"} for i in range(3)]}
        _, _, body = await send(
            "POST",
            f"{fake.base_url}/api/v2/users/create_or_update_many",
            headers=ZD_AUTH,
            json=users,
        )
        job = body["job_status"]
        assert job["status"] == "queued" and not fake.users
        _, _, polled = await send("GET", job["url"], headers=ZD_AUTH)
        assert polled["job_status"]["status"] == "completed"
        assert [r["action"] for r in polled["job_status"]["results"]] == ["create"] * 3
        assert len(fake.users) == 3

    async def test_incremental_cursor_paging(self, fake_zendesk: FakeFactory[FakeZendesk]) -> None:
        fake: FakeZendesk = await fake_zendesk(page_size=2)
        for i in range(5):
            fake.seed_ticket(updated_at=1_000 + i, subject=f"t{i}")
        url = f"{fake.base_url}/api/v2/incremental/tickets/cursor?start_time=1001"
        seen: list[str] = []
        while True:
            _, _, page = await send("GET", url, headers=ZD_AUTH)
            seen += [t["subject"] for t in page["tickets"]]
            if page["end_of_stream"]:
                break
            url = page["after_url"]
        assert seen == ["t1", "t2", "t3", "t4"]
        fake.seed_ticket(updated_at=2_000, subject="late")
        _, _, page = await send("GET", page["after_url"], headers=ZD_AUTH)
        assert [t["subject"] for t in page["tickets"]] == ["late"]

    async def test_ticket_update_and_show(self, fake_zendesk: FakeFactory[FakeZendesk]) -> None:
        fake: FakeZendesk = await fake_zendesk()
        body = {
            "ticket": {
                "subject": "Help",
                "comment": {"body": "broken"},
                "requester": {"name": "Bo", "email": "bo@x.io"},
            }
        }
        _, _, created = await send(
            "POST", f"{fake.base_url}/api/v2/tickets", headers=ZD_AUTH, json=body
        )
        url = f"{fake.base_url}/api/v2/tickets/{created['ticket']['id']}"
        await send("PUT", url, headers=ZD_AUTH, json={"ticket": {"status": "solved"}})
        _, _, shown = await send("GET", url, headers=ZD_AUTH)
        assert shown["ticket"]["status"] == "solved" and len(fake.users) == 1


class TestZendeskEventsAPI:
    """The Events API, transcribed from Zendesk's reference, is validated like oas.yaml."""

    async def test_event_is_stored_on_the_user(self) -> None:
        async with FakeZendesk() as fake:
            fake.users[5] = {"id": 5, "email": "a@x.io", "name": "A"}
            body = {"profile": {"source": "s", "type": "customer",
                                "identifiers": [{"type": "email", "value": "a@x.io"}]},
                    "event": {"source": "s", "type": "Viewed", "properties": {"p": 1}}}
            url = f"{fake.base_url}/api/v2/users/5/events"
            status, _, answer = await send("POST", url, headers=ZD_AUTH, json=body)
            assert status == 202 and answer["user_id"] == "5"
            assert fake.user_events[5][0]["event"]["type"] == "Viewed"

    async def test_event_without_properties_or_identifiers_is_a_violation(self) -> None:
        async with FakeZendesk(check_on_exit=False) as fake:
            body = {"profile": {"source": "s", "type": "customer", "identifiers": []},
                    "event": {"source": "s", "type": "Viewed"}}
            url = f"{fake.base_url}/api/v2/users/5/events"
            status, _, _ = await send("POST", url, headers=ZD_AUTH, json=body)
            assert status == 400
            reason = fake.take_violations()[0].reason
            assert "properties" in reason and "identifiers" in reason

    async def test_me_is_the_api_user(self) -> None:
        async with FakeZendesk() as fake:
            status, _, answer = await send("GET", f"{fake.base_url}/api/v2/users/me",
                                           headers=ZD_AUTH)
            assert status == 200 and answer["user"]["id"] == fake.api_user["id"]
