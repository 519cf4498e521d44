"""FakeIntercom: auth and version headers, 409 duplicates, searches with pagination."""

from __future__ import annotations

from connectors.testing.fakes import FakeFactory, FakeIntercom
from tests.unit.connectors.testing.helpers import IC_AUTH, send

pytest_plugins = ["connectors.testing.pytest_plugin"]


class TestIntercomValidation:
    """Requests are checked against Intercom's 2.14 OpenAPI file plus its headers."""

    async def test_valid_contact_create_and_update(
        self, fake_intercom: FakeFactory[FakeIntercom]
    ) -> None:
        fake = await fake_intercom()
        status, _, contact = await send(
            "POST",
            f"{fake.base_url}/contacts",
            headers=IC_AUTH,
            json={"role": "user", "email": "a@x.io"},
        )
        assert status == 200
        body = {"custom_attributes": {"open_tickets": 2}}
        status, _, updated = await send(
            "PUT", f"{fake.base_url}/contacts/{contact['id']}", headers=IC_AUTH, json=body
        )
        assert status == 200 and updated["custom_attributes"] == {"open_tickets": 2}

    async def test_wrong_version_is_violation(self) -> None:
        async with FakeIntercom() as fake:
            headers = {**IC_AUTH, "Intercom-Version": "2.11"}
            status, _, body = await send(
                "POST",
                f"{fake.base_url}/events",
                headers=headers,
                json={"event_name": "x", "created_at": 1, "user_id": "u"},
            )
            assert status == 400 and body["errors"][0]["code"] == "intercom_version_invalid"
            assert len(fake.take_violations()) == 1

    async def test_missing_bearer_is_401(self) -> None:
        async with FakeIntercom() as fake:
            status, _, _ = await send(
                "POST",
                f"{fake.base_url}/contacts",
                headers={"Intercom-Version": "2.14"},
                json={"role": "user"},
            )
            assert status == 401 and fake.take_violations()[0].status == 401

    async def test_wrong_body_type_is_violation(self) -> None:
        async with FakeIntercom() as fake:
            status, _, _ = await send(
                "POST", f"{fake.base_url}/contacts", headers=IC_AUTH, json={"email": 5}
            )
            assert status == 400 and len(fake.take_violations()) == 1


class TestIntercomBehaviour:
    """Duplicates answer 409; searches filter and paginate."""

    async def test_duplicate_email_is_409_not_violation(
        self, fake_intercom: FakeFactory[FakeIntercom]
    ) -> None:
        fake = await fake_intercom()
        url, body = f"{fake.base_url}/contacts", {"role": "user", "email": "a@x.io"}
        _, _, first = await send("POST", url, headers=IC_AUTH, json=body)
        status, _, error = await send("POST", url, headers=IC_AUTH, json=body)
        assert status == 409 and error["type"] == "error.list"
        assert error["errors"][0]["code"] == "conflict"
        assert first["id"] in error["errors"][0]["message"]
        assert fake.violations == []

    async def test_contact_search_and_tag(self, fake_intercom: FakeFactory[FakeIntercom]) -> None:
        fake = await fake_intercom()
        for email in ("a@x.io", "b@x.io"):
            await send(
                "POST",
                f"{fake.base_url}/contacts",
                headers=IC_AUTH,
                json={"role": "user", "email": email},
            )
        query = {"query": {"field": "email", "operator": "=", "value": "b@x.io"}}
        _, _, found = await send(
            "POST", f"{fake.base_url}/contacts/search", headers=IC_AUTH, json=query
        )
        assert [c["email"] for c in found["data"]] == ["b@x.io"]
        tag = fake.add_tag("support-open")
        contact_id = found["data"][0]["id"]
        status, _, _ = await send(
            "POST", f"{fake.base_url}/contacts/{contact_id}/tags", headers=IC_AUTH, json={"id": tag}
        )
        assert status == 200 and fake.contacts[contact_id]["tags"]["data"][0]["id"] == tag

    async def test_conversation_close_and_search_pages(
        self, fake_intercom: FakeFactory[FakeIntercom]
    ) -> None:
        fake = await fake_intercom()
        convs = [fake.seed_conversation(updated_at=100 + i) for i in range(3)]
        part = {"message_type": "close", "type": "admin", "admin_id": "1", "body": "done"}
        await send(
            "POST",
            f"{fake.base_url}/conversations/{convs[0]['id']}/parts",
            headers=IC_AUTH,
            json=part,
        )
        assert fake.conversations[convs[0]["id"]]["state"] == "closed"
        query = {
            "query": {"field": "updated_at", "operator": "<", "value": 1000},
            "pagination": {"per_page": 1},
        }
        ids: list[str] = []
        while True:
            _, _, page = await send(
                "POST", f"{fake.base_url}/conversations/search", headers=IC_AUTH, json=query
            )
            ids += [c["id"] for c in page["conversations"]]
            if "next" not in page["pages"]:
                break
            query["pagination"] = {
                "per_page": 1,
                "starting_after": page["pages"]["next"]["starting_after"],
            }
        assert ids == [convs[1]["id"], convs[2]["id"]]  # the closed one was updated just now
