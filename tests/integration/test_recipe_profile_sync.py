"""R10 syncs more than the name (issue 15 item 15): email, plan, company and custom fields
both ways between a Zendesk user and an Intercom contact, Zendesk organizations to Intercom
companies, and supportsync's own writes never echo back. End to end through the broker,
asserted on the requests the contract-validating fakes received.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import iso, minutes_ago, state_of
from tests.integration.test_recipe_harness import (
    Platforms,
    eventually,
    platforms,
    send_intercom,
    send_zendesk,
    settle,
    start_worker,
)

pytestmark = pytest.mark.broker
PLAN_FIELD_ID = "3601"  # the Zendesk custom user fields, as webhooks name them
REGION_FIELD_ID = "3602"
TIER_FIELD_ID = "4701"  # a Zendesk organization field


@pytest.fixture(scope="module")
def fakes() -> Iterator[Platforms]:
    with platforms() as found:
        found.zendesk.user_fields = [
            {"id": int(PLAN_FIELD_ID), "key": "plan_tier", "type": "text", "title": "Plan"},
            {"id": int(REGION_FIELD_ID), "key": "region", "type": "text", "title": "Region"},
            {"id": 3603, "key": "company", "type": "text", "title": "Company"},
        ]
        yield found


@pytest.fixture(scope="module")
def worker(
    broker: EmbeddedBroker, fakes: Platforms, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    config: dict[str, Any] = {"recipes": {"r10_profile_sync": {
        "fields": {
            "name": {"zendesk": "name", "intercom": "name"},
            "email": {"zendesk": "email", "intercom": "email"},
            "company": {"zendesk": "company", "intercom": "company"},
            "plan": {"zendesk": "plan_tier", "zendesk_field_id": PLAN_FIELD_ID,
                     "intercom": "plan"},
            "region": {"zendesk": "region", "zendesk_field_id": REGION_FIELD_ID,
                       "intercom": "region"},
        },
        "organizations": {"fields": {TIER_FIELD_ID: "plan"}},
    }}}
    tmp = tmp_path_factory.mktemp("recipes-profile-sync")
    with start_worker(broker.bootstrap_servers, fakes, config, tmp) as proc:
        yield proc


def user_event(kind: str, user_id: int, email: str, minutes: float, *,
               event: dict[str, Any] | None = None, actor: str | None = None,
               organization: str = "0") -> dict[str, Any]:
    """A Zendesk event-subscribed user webhook as Zendesk sends it (ids as strings)."""
    detail: dict[str, Any] = {"id": str(user_id), "email": email, "external_id": "",
                              "role": "end-user", "organization_id": organization,
                              "default_group_id": "0", "updated_at": iso(minutes_ago(minutes))}
    if actor is not None:
        detail["actor_id"] = actor
    doc: dict[str, Any] = {"type": f"zen:event-type:user.{kind}",
                           "id": f"zen-{uuid.uuid4().hex}", "time": iso(minutes_ago(minutes)),
                           "subject": f"zen:user:{user_id}", "detail": detail}
    if event is not None:
        doc["event"] = event
    return doc


def field_changed(field_id: str, current: Any, previous: Any = None) -> dict[str, Any]:
    return {"current": current, "previous": previous,
            "custom_field": {"id": field_id, "title": field_id, "type": "text"}}


def contact(email: str, contact_id: str, minutes: float, **fields: Any) -> dict[str, Any]:
    return {"type": "contact", "id": contact_id, "email": email, "role": "user",
            "updated_at": int(minutes_ago(minutes).timestamp()), **fields}


def seed(fakes: Platforms, email: str, user_id: int) -> dict[str, Any]:
    fakes.zendesk.users[user_id] = {"id": user_id, "email": email, "name": "Kim",
                                    "role": "end-user", "user_fields": {}}
    return fakes.intercom.seed_contact(email, name="Kim",
                                       custom_attributes={"plan": "pro"})


def linked(worker: WorkerProcess, fakes: Platforms, email: str, user_id: int,
           contact_id: str) -> None:
    """Both helpdesks tell supportsync about the person, Intercom first (nothing differs:
    nothing is sent). One after the other: had Zendesk spoken first, Intercom's name would
    rightly go to a Zendesk user whose name supportsync never heard."""
    send_intercom(worker, "contact.user.created",
                  contact(email, contact_id, 40, name="Kim", custom_attributes={"plan": "pro"}))
    eventually(lambda: _knows(worker, email, "intercom_contact_id"), "the contact is known")
    send_zendesk(worker, user_event("created", user_id, email, 35))
    eventually(lambda: _knows(worker, email, "zendesk_user_id"), "the Zendesk user is linked")
    eventually(lambda: fakes.cio.people.get(email) is not None, "the person is known")


def _knows(worker: WorkerProcess, email: str, kind: str) -> bool:
    doc = state_of(worker.admin_port, email)
    return doc is not None and kind in doc["identities"]


class TestItem15R10SyncsEmailCompanyPlanCustomFieldsAndOrganizations:
    """Profile fields cross in both directions by id, organizations become companies, and
    nothing supportsync wrote comes back."""

    def test_item15_r10_syncs_email_company_plan_custom_fields_and_organizations(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email, user_id = "r10.kim@example.com", 94001
        ic = seed(fakes, email, user_id)
        linked(worker, fakes, email, user_id, ic["id"])
        puts = f"/contacts/{ic['id']}"
        assert fakes.intercom.requests_to("PUT", puts) == []  # equal values: nothing sent

        # Zendesk → Intercom: a custom field (plan), another one (region), a new email.
        send_zendesk(worker, user_event("custom_field_changed", user_id, email, 30,
                                        event=field_changed(PLAN_FIELD_ID, "enterprise", "pro")))
        send_zendesk(worker, user_event("custom_field_changed", user_id, email, 29,
                                        event=field_changed(REGION_FIELD_ID, "eu")))
        moved = "r10.kim@new.example"
        send_zendesk(worker, user_event("identity_changed", user_id, moved, 28))
        eventually(lambda: ic["email"] == moved and ic["custom_attributes"].get("region"),
                   "Zendesk's changes on the Intercom contact")
        sent = [r.json or {} for r in fakes.intercom.requests_to("PUT", puts)]
        assert [b["email"] for b in sent if "email" in b] == [moved]
        custom = {k: v for b in sent for k, v in (b.get("custom_attributes") or {}).items()}
        assert custom == {"plan": "enterprise", "region": "eu"}
        assert ic["custom_attributes"]["plan"] == "enterprise"
        assert len(fakes.intercom.contacts) == 1  # the email moved; nobody was created

        # Intercom → Zendesk: a new plan, a company and a newer email, on the same user.
        newest = "kim@r10.example"
        send_intercom(worker, "contact.user.updated", contact(
            newest, ic["id"], 10, name="Kim",
            custom_attributes={"plan": "scale", "region": "eu", "company": "Acme Ltd"}))
        user = fakes.zendesk.users[user_id]
        eventually(lambda: user["user_fields"].get("plan_tier") == "scale"
                   and user["email"] == newest, "Intercom's changes on the Zendesk user")
        put = [r.json or {} for r in fakes.zendesk.requests_to("PUT", f"/api/v2/users/{user_id}")]
        written = {k: v for b in put for k, v in (b.get("user") or {}).items()}
        assert written == {"user_fields": {"plan_tier": "scale", "company": "Acme Ltd"}}
        # the new email became the user's primary identity
        [added] = fakes.zendesk.requests_to("POST", f"/api/v2/users/{user_id}/identities")
        assert (added.json or {})["identity"]["value"] == newest
        assert fakes.zendesk.requests_to(
            "PUT", f"/api/v2/users/{user_id}/identities/[0-9]+/make_primary")
        assert fakes.zendesk.requests_to("POST", "/api/v2/users/create_or_update.*") == []

        # Our own writes come back: Zendesk reports the plan we set (by our API user, and
        # once more by nobody named), Intercom the email we set. Nothing goes out again.
        intercom_before = len(fakes.intercom.requests_to("PUT", puts))
        zendesk_before = len(fakes.zendesk.requests_to("PUT", f"/api/v2/users/{user_id}"))
        api_user = str(fakes.zendesk.api_user["id"])
        send_zendesk(worker, user_event("custom_field_changed", user_id, newest, 5,
                                        event=field_changed(PLAN_FIELD_ID, "scale"),
                                        actor=api_user))
        send_zendesk(worker, user_event("custom_field_changed", user_id, newest, 4,
                                        event=field_changed(PLAN_FIELD_ID, "scale")))
        send_intercom(worker, "contact.user.updated", contact(
            newest, ic["id"], 3, name="Kim",
            custom_attributes={"plan": "scale", "region": "eu", "company": "Acme Ltd"}))
        settle(3)
        assert len(fakes.intercom.requests_to("PUT", puts)) == intercom_before
        assert len(fakes.zendesk.requests_to("PUT", f"/api/v2/users/{user_id}")) == zendesk_before

        # Organizations: the organization's name and tier reach the Intercom company, and
        # the user's organization attaches the contact to it.
        organization = {"id": "8801", "name": "Acme", "external_id": "",
                        "updated_at": iso(minutes_ago(2))}
        send_zendesk(worker, {"type": "zen:event-type:organization.name_changed",
                              "id": f"zen-{uuid.uuid4().hex}", "time": iso(minutes_ago(2)),
                              "subject": "zen:organization:8801",
                              "detail": {**organization, "name": "Acme Ltd"},
                              "event": {"current": "Acme Ltd", "previous": "Acme"}})
        send_zendesk(worker, {"type": "zen:event-type:organization.custom_field_changed",
                              "id": f"zen-{uuid.uuid4().hex}", "time": iso(minutes_ago(1)),
                              "subject": "zen:organization:8801",
                              "detail": {**organization, "name": "Acme Ltd"},
                              "event": field_changed(TIER_FIELD_ID, "enterprise")})
        send_zendesk(worker, user_event("organization_membership_created", user_id, newest,
                                        1, organization="8801"))
        company = eventually(lambda: fakes.intercom.companies.get("zendesk-org-8801", {}).get(
            "plan") == "enterprise" and fakes.intercom.companies["zendesk-org-8801"],
            "the Intercom company")
        assert company["name"] == "Acme Ltd"
        eventually(lambda: ic.get("companies", {}).get("data") == [
            {"type": "company", "id": company["id"]}], "the contact attached to the company")
        posted = [r.json or {} for r in fakes.intercom.requests_to("POST", "/companies")]
        assert {b["company_id"] for b in posted} == {"zendesk-org-8801"}
        assert {k: v for b in posted for k, v in b.items()} == {
            "company_id": "zendesk-org-8801", "name": "Acme Ltd", "plan": "enterprise"}
