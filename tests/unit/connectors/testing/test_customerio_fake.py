"""FakeCustomerIO: contract enforcement and per-person state."""

from __future__ import annotations

from connectors.customerio.contract import MAX_ATTRIBUTE_VALUE_BYTES
from connectors.testing.fakes import FakeCustomerIO, FakeFactory
from tests.unit.connectors.testing.helpers import CIO_AUTH, send

pytest_plugins = ["connectors.testing.pytest_plugin"]


class TestCustomerIOFake:
    """Track v1/v2 and App API calls change state or are refused like the real API."""

    async def test_identify_event_dedupe_and_suppress(
        self, fake_customerio: FakeFactory[FakeCustomerIO]
    ) -> None:
        fake = await fake_customerio()
        base = f"{fake.track_url}/api/v1/customers/42"
        await send("PUT", base, headers=CIO_AUTH, json={"plan": "pro"})
        await send("PUT", base, headers=CIO_AUTH, json={"open_tickets": 1})
        event = {"name": "ticket_opened", "id": "evt-1", "data": {"ticket": 7}}
        for _ in range(2):
            status, _, _ = await send("POST", f"{base}/events", headers=CIO_AUTH, json=event)
            assert status == 200
        await send("POST", f"{base}/suppress", headers=CIO_AUTH)
        person = fake.people["42"]
        assert person.attributes == {"plan": "pro", "open_tickets": 1}
        assert len(person.events) == 1 and person.suppressed

    async def test_v2_batch_and_merge(self, fake_customerio: FakeFactory[FakeCustomerIO]) -> None:
        fake = await fake_customerio()
        batch = {
            "batch": [
                {
                    "type": "person",
                    "identifiers": {"id": "1"},
                    "action": "identify",
                    "attributes": {"a": 1},
                },
                {
                    "type": "person",
                    "identifiers": {"email": "x@y.io"},
                    "action": "identify",
                    "attributes": {"a": 2, "b": 2},
                },
                {
                    "type": "person",
                    "action": "merge",
                    "primary": {"id": "1"},
                    "secondary": {"email": "x@y.io"},
                },
            ]
        }
        status, _, _ = await send(
            "POST", f"{fake.track_url}/api/v2/batch", headers=CIO_AUTH, json=batch
        )
        assert status == 200 and fake.people["1"].attributes == {"a": 1, "b": 2}
        assert "x@y.io" in fake.deleted

    async def test_app_trigger_uses_bearer(
        self, fake_customerio: FakeFactory[FakeCustomerIO]
    ) -> None:
        fake = await fake_customerio()
        status, _, body = await send(
            "POST",
            f"{fake.app_url}/v1/campaigns/9/triggers",
            headers={"Authorization": "Bearer test-app-key"},
            json={"data": {"x": 1}},
        )
        assert status == 200 and body["id"] == 1 and fake.triggers == [(9, {"data": {"x": 1}})]

    async def test_oversized_attribute_is_violation(self) -> None:
        async with FakeCustomerIO() as fake:
            body = {"note": "x" * (MAX_ATTRIBUTE_VALUE_BYTES + 1)}
            status, _, error = await send(
                "PUT", f"{fake.track_url}/api/v1/customers/42", headers=CIO_AUTH, json=body
            )
            assert status == 400 and "note" in error["meta"]["error"]
            assert "42" not in fake.people and len(fake.take_violations()) == 1

    async def test_bad_credentials_and_unknown_route(self) -> None:
        async with FakeCustomerIO(api_key="other") as fake:
            status, _, _ = await send(
                "PUT", f"{fake.track_url}/api/v1/customers/42", headers=CIO_AUTH, json={"a": 1}
            )
            assert status == 401
            status, _, _ = await send("GET", f"{fake.track_url}/api/v1/nope", headers=CIO_AUTH)
            assert status == 404
            assert [v.status for v in fake.take_violations()] == [401, 404]
