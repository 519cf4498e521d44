"""R19, the Zendesk destination for Segment-spec calls, as Customer.io's page describes it.

One worker (every sink live against the contract-validating fakes) serves the module;
every test uses its own people, organizations and ids. Each class is an item of issue 15.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker
from tests.integration.test_recipe_harness import (
    Platforms,
    dead_letters,
    eventually,
    platforms,
    send_pipelines,
    start_worker,
)

pytestmark = pytest.mark.broker

_ids = itertools.count(71000)


@pytest.fixture(scope="module")
def fakes() -> Iterator[Platforms]:
    with platforms() as found:
        found.zendesk.user_fields = [{"id": 1, "key": "plan", "type": "text", "title": "Plan"}]
        found.zendesk.organization_fields = [
            {"id": 2, "key": "industry", "type": "text", "title": "Industry"}
        ]
        yield found


@pytest.fixture(scope="module")
def worker(
    broker: EmbeddedBroker, fakes: Platforms, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("recipes-destination")
    with start_worker(broker.bootstrap_servers, fakes, {}, tmp) as proc:
        yield proc


def seed_user(fakes: Platforms, email: str | None, external_id: str | None) -> int:
    user_id = next(_ids)
    user: dict[str, Any] = {"id": user_id, "name": "Seeded", "role": "end-user",
                            "user_fields": {}}
    user |= {k: v for k, v in (("email", email), ("external_id", external_id)) if v}
    fakes.zendesk.users[user_id] = user
    return user_id


def seed_organization(fakes: Platforms, name: str) -> int:
    org_id = next(_ids)
    fakes.zendesk.organizations[org_id] = {"id": org_id, "name": name}
    return org_id


def sink_letters(broker: EmbeddedBroker, worker: WorkerProcess, operation: str,
                 person: str) -> list[dict[str, Any]]:
    return [d for d in dead_letters(broker.bootstrap_servers, worker)
            if d.get("sink") == "zendesk" and d["action"]["operation"] == operation
            and d["action"]["person"] == person]


def members(fakes: Platforms, org_id: int) -> set[int]:
    return {m["user_id"] for m in fakes.zendesk.memberships.values()
            if m["organization_id"] == org_id}


class TestItem6TrackAsUserEvent:
    """Other tracks are Zendesk user events, on the user found in the documented order."""

    def test_track_events_reach_the_users_timeline(
        self, broker: EmbeddedBroker, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        by_id = seed_user(fakes, "i6.zed@example.com", "i6-zed")
        by_email = seed_user(fakes, "i6.eve@example.com", None)
        by_external = seed_user(fakes, None, "i6-xan")
        send_pipelines(worker, "track", {
            "type": "track", "userId": "i6-other", "event": "Plan Upgraded",
            "properties": {"plan": "pro"}, "context": {"zendesk_user_id": str(by_id)}})
        send_pipelines(worker, "track", {
            "type": "track", "userId": "i6-eve-app", "event": "Viewed Pricing",
            "properties": {"email": "I6.Eve@example.com", "page": "/pricing"}})
        send_pipelines(worker, "track", {
            "type": "track", "userId": "i6-xan", "event": "Exported",
            "properties": {"rows": 12}})
        for user_id, kind, props in ((by_id, "Plan Upgraded", {"plan": "pro"}),
                                     (by_email, "Viewed Pricing",
                                      {"email": "I6.Eve@example.com", "page": "/pricing"}),
                                     (by_external, "Exported", {"rows": 12})):
            [stored] = eventually(lambda u=user_id: fakes.zendesk.user_events.get(u),
                                  f"user event {kind}")
            assert stored["event"]["type"] == kind and stored["event"]["properties"] == props
            assert stored["event"]["source"] == "supportsync"
            assert stored["profile"]["identifiers"]

    def test_no_such_user_is_a_dead_letter(
        self, broker: EmbeddedBroker, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        send_pipelines(worker, "track", {"type": "track", "userId": "i6-nobody",
                                         "event": "Logged In", "properties": {}})
        [letter] = eventually(lambda: sink_letters(broker, worker, "user_event", "i6-nobody"),
                              "dead letter")
        assert letter["status"] == 400 and "no Zendesk user" in letter["error_message"]
        assert not any(u.get("external_id") == "i6-nobody"
                       for u in fakes.zendesk.users.values())


class TestItem7GroupTraitsDescribeTheOrganization:
    """A group's traits.email is the organization's: every member joins, none conflicts."""

    def test_members_of_one_group_each_join_it(
        self, broker: EmbeddedBroker, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        first = seed_user(fakes, None, "i7-ann")
        second = seed_user(fakes, "i7.bob@example.com", "i7-bob")
        traits = {"name": "Seven Ltd", "email": "billing@seven.example"}
        send_pipelines(worker, "group", {"type": "group", "userId": "i7-ann",
                                         "groupId": "org-i7", "traits": traits})
        send_pipelines(worker, "group", {"type": "group", "userId": "i7-bob",
                                         "groupId": "org-i7", "traits": traits,
                                         "context": {"traits": {"email": "i7.bob@example.com"}}})
        org = eventually(lambda: next((o for o in fakes.zendesk.organizations.values()
                                       if o.get("external_id") == "org-i7"), None), "org")
        eventually(lambda: members(fakes, org["id"]) == {first, second}, "both members")
        assert not any(u.get("email") == "billing@seven.example"
                       for u in fakes.zendesk.users.values())
        conflicts = [d for d in dead_letters(broker.bootstrap_servers, worker)
                     if d.get("reason") == "identity_conflict"
                     and "i7-" in str(d.get("record"))]
        assert conflicts == []


class TestItem8CompanyIdIsTheZendeskOrganization:
    """identify's company.id is an existing organization's id: join it, leave it, create none."""

    def test_membership_added_and_removed_without_creating_organizations(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i8.cat@example.com"
        user_id = seed_user(fakes, email, None)
        org_id = seed_organization(fakes, "Eight Inc")
        send_pipelines(worker, "identify", {"type": "identify", "userId": "i8-cat", "traits": {
            "email": email, "name": "Cat", "company": {"id": str(org_id), "name": "Eight"}}})
        eventually(lambda: members(fakes, org_id) == {user_id}, "membership")
        send_pipelines(worker, "identify", {"type": "identify", "userId": "i8-cat", "traits": {
            "email": email, "company": {"id": org_id, "remove": True}}})
        eventually(lambda: members(fakes, org_id) == set(), "membership removed")
        upserts = fakes.zendesk.requests_to("POST", "/api/v2/organizations/create_or_update")
        assert [r.json for r in upserts if str(org_id) in str(r.json)] == []
        assert not any(o.get("name") == "Eight" for o in fakes.zendesk.organizations.values())


class TestItem9IdentifyWithoutEmail:
    """No email but a userId updates that external_id's user; unknown org traits → fields."""

    def test_updates_the_user_by_external_id_and_creates_nobody(
        self, broker: EmbeddedBroker, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        user_id = seed_user(fakes, "i9.dan@example.com", "i9-dan")
        send_pipelines(worker, "identify", {"type": "identify", "userId": "i9-dan",
                                            "traits": {"name": "Dan Nine", "plan": "gold"}})
        eventually(lambda: fakes.zendesk.users[user_id]["name"] == "Dan Nine", "name updated")
        assert fakes.zendesk.users[user_id]["user_fields"] == {"plan": "gold"}
        assert fakes.zendesk.users[user_id]["email"] == "i9.dan@example.com"
        send_pipelines(worker, "identify", {"type": "identify", "userId": "i9-ghost",
                                            "traits": {"name": "Ghost"}})
        eventually(lambda: sink_letters(broker, worker, "update_user", "i9-ghost"),
                   "dead letter")
        assert not any(u.get("external_id") == "i9-ghost" or u.get("name") == "Ghost"
                       for u in fakes.zendesk.users.values())

    def test_unknown_group_traits_go_to_organization_fields(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        send_pipelines(worker, "group", {"type": "group", "userId": "i9-eve", "groupId": "org-i9",
                                         "traits": {"name": "Nine", "industry": "rail",
                                                    "shoe_size": 42}})
        org = eventually(lambda: next((o for o in fakes.zendesk.organizations.values()
                                       if o.get("external_id") == "org-i9"), None), "org")
        assert org["name"] == "Nine" and org["organization_fields"] == {"industry": "rail"}
