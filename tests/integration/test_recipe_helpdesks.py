"""Recipes between the helpdesks and Customer.io, end to end: R3 R4 R5 R7 R8 R9 R10 R11 R12 R13.

One worker (every sink live against the contract-validating fakes) serves the module;
every test uses its own customers, tickets and conversations.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import iso, minutes_ago
from tests.integration.test_recipe_harness import (
    ADMIN_ID,
    Platforms,
    cio_action,
    cio_metric,
    eventually,
    platforms,
    send_customerio,
    send_intercom,
    send_zendesk,
    settle,
    start_worker,
    zendesk_ticket,
)

pytestmark = pytest.mark.broker
USER_FIELDS = ("last_email_open_at", "last_campaign", "days_since_last_open", "plan_tier",
               "lifecycle_stage")


@pytest.fixture(scope="module")
def fakes() -> Iterator[Platforms]:
    with platforms() as found:
        found.zendesk.user_fields = [
            {"id": i, "key": key, "type": "text", "title": key}
            for i, key in enumerate(USER_FIELDS, 1)
        ]
        yield found


@pytest.fixture(scope="module")
def tag_ids(fakes: Platforms) -> dict[str, str]:
    return {name: fakes.intercom.add_tag(name) for name in ("Billing", "VIP", "Priority")}


@pytest.fixture(scope="module")
def worker(
    broker: EmbeddedBroker, fakes: Platforms, tag_ids: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    config: dict[str, Any] = {"recipes": {
        "r5_vip_routing": {"segments": [
            {"segment": "vip", "priority": "urgent", "tags": ["vip"], "group_id": 42},
            {"plan": "enterprise", "priority": "high", "tags": ["enterprise"]},
        ]},
        "r7_churn_outreach": {"groups_by_tier": {"gold": 77}},
        "r11_tag_mapping": {"tags": [
            {"intercom": "Billing", "intercom_tag_id": tag_ids["Billing"], "zendesk": "billing"},
            {"intercom": "Priority", "intercom_tag_id": tag_ids["Priority"],
             "zendesk": "priority_support"},
        ]},
        "r13_cio_to_intercom": {"segment_tag_ids": {"vip": tag_ids["VIP"]}},
    }}
    tmp = tmp_path_factory.mktemp("recipes-helpdesks")
    with start_worker(broker.bootstrap_servers, fakes, config, tmp) as proc:
        yield proc


def contact(email: str, contact_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "contact", "id": contact_id, "email": email, "role": "user",
            "updated_at": int(time.time()), **fields}


def zendesk_user(email: str, user_id: int, name: str, at: str, event: str) -> dict[str, Any]:
    return {"type": "zen:event-type:user.name_changed", "id": event, "time": at,
            "detail": {"id": str(user_id), "email": email, "name": name}}


def seed_user(fakes: Platforms, email: str, name: str) -> int:
    user_id = 90000 + len(fakes.zendesk.users)
    fakes.zendesk.users[user_id] = {"id": user_id, "email": email, "name": name,
                                    "role": "end-user", "user_fields": {}}
    return user_id


def conversation(conv_id: str, email: str, contact_id: str, **fields: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"type": "conversation", "id": conv_id, "state": "open", "created_at": now - 60,
            "updated_at": now, "contacts": {"contacts": [{"id": contact_id, "email": email}]},
            **fields}


def known_to_intercom(fakes: Platforms, email: str) -> bool:
    """The contact webhook was applied: R14 put its Intercom id on the Customer.io person."""
    person = fakes.cio.people.get(email)
    return person is not None and bool(person.attributes.get("intercom_contact_id"))


def intercom_contact(fakes: Platforms, email: str) -> dict[str, Any]:
    return next((c for c in fakes.intercom.contacts.values() if c.get("email") == email), {})


class TestR3Engagement:
    """Email opens land on the Zendesk user and the Intercom contact."""

    def test_r3_engagement_enriches_zendesk_user_and_intercom_contact(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r3.amy@example.com"
        user_id = seed_user(fakes, email, "Amy")
        send_intercom(worker, "contact.user.created", contact(email, "ic-r3-amy", name="Amy"))
        eventually(lambda: known_to_intercom(fakes, email), "Intercom id held")
        # A Zendesk name change (R10 carries it to Intercom) shows the Zendesk id is held too.
        send_zendesk(worker, zendesk_user(email, user_id, "Amy Z", iso(minutes_ago(0)), "zu-r3"))
        eventually(lambda: intercom_contact(fakes, email).get("name") == "Amy Z", "Zendesk id")
        send_customerio(worker, cio_metric("opened", email, campaign_id=321))
        user = eventually(
            lambda: fakes.zendesk.users[user_id]["user_fields"].get("last_email_open_at")
            and fakes.zendesk.users[user_id], "Zendesk user fields",
        )
        assert user["user_fields"]["last_campaign"] == "321"
        assert user["user_fields"]["days_since_last_open"] == 0
        found = eventually(
            lambda: (c := intercom_contact(fakes, email))
            and c["custom_attributes"].get("last_email_open_at") and c, "Intercom attributes",
        )
        assert isinstance(found["custom_attributes"]["last_email_open_at"], int)


class TestR4LifecycleUsers:
    """Lifecycle events update the Zendesk user and its organization membership."""

    def test_r4_lifecycle_updates_user_and_membership(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r4.bob@example.com"
        user_id = seed_user(fakes, email, "Bob")
        company = {"id": "acme-r4", "name": "Acme"}
        send_customerio(worker, cio_action("lifecycle_event", email, name="plan_changed",
                                           attributes={"plan": "gold", "company": company}))
        eventually(lambda: fakes.zendesk.users[user_id]["user_fields"].get("plan_tier") == "gold",
                   "plan tier")
        assert fakes.zendesk.users[user_id]["user_fields"]["lifecycle_stage"] == "plan_changed"

        def memberships() -> list[dict[str, Any]]:
            return [m for m in fakes.zendesk.memberships.values() if m["user_id"] == user_id]

        eventually(memberships, "membership added")
        org = fakes.zendesk.organizations[memberships()[0]["organization_id"]]
        assert org["external_id"] == "acme-r4"
        removal = {"company": {"id": "acme-r4", "remove": True}}
        send_customerio(worker, cio_action("lifecycle_event", email, name="plan_changed",
                                           attributes=removal))
        eventually(lambda: not memberships(), "membership removed")


class TestR5VipRouting:
    """New tickets of VIP segment members or enterprise plans are routed; others untouched."""

    def test_r5_vip_routing_by_segment_and_plan(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        vip, enterprise, plain = ("r5.cat@example.com", "r5.dan@example.com",
                                  "r5.eli@example.com")
        send_intercom(worker, "contact.user.created", contact(vip, "ic-r5-cat"))
        send_intercom(worker, "contact.user.created",
                      contact(enterprise, "ic-r5-dan", custom_attributes={"plan": "enterprise"}))
        eventually(lambda: known_to_intercom(fakes, vip), "Intercom id held")
        send_customerio(worker, cio_action("segment_entered", vip, segment="vip"))
        # R13 mirrors the segment to Intercom: proof the state holds it.
        eventually(lambda: intercom_contact(fakes, vip).get("custom_attributes", {})
                   .get("cio_segment_vip") is True, "segment held in the state")
        eventually(lambda: known_to_intercom(fakes, enterprise), "plan held in the state")
        tickets = {email: fakes.zendesk.seed_ticket(subject="Help", priority="normal")["id"]
                   for email in (vip, enterprise, plain)}
        for email, ticket_id in tickets.items():
            send_zendesk(worker, zendesk_ticket(ticket_id, "new", minutes_ago(1), email))
        routed = eventually(lambda: (t := fakes.zendesk.tickets[tickets[vip]])
                            .get("priority") == "urgent" and t, "VIP ticket routed")
        assert "vip" in routed["tags"] and routed["group_id"] == 42
        other = eventually(lambda: (t := fakes.zendesk.tickets[tickets[enterprise]])
                           .get("priority") == "high" and t, "enterprise ticket routed")
        assert "enterprise" in other["tags"]
        settle()
        assert not fakes.zendesk.requests_to("PUT", f"/api/v2/tickets/{tickets[plain]}")


class TestR7ChurnOutreach:
    """Entering churn-risk opens one internal, routed, proactive ticket."""

    def test_r7_churn_risk_opens_one_proactive_ticket(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r7.fox@example.com"
        send_intercom(worker, "contact.user.created",
                      contact(email, "ic-r7-fox", custom_attributes={"plan": "gold"}))
        eventually(lambda: known_to_intercom(fakes, email), "plan held in the state")
        entered = cio_action("segment_entered", email, segment="churn-risk")
        send_customerio(worker, entered)
        send_customerio(worker, entered)  # the same delivery again

        def proactive() -> list[dict[str, Any]]:
            return [t for t in fakes.zendesk.tickets.values()
                    if "proactive-outreach" in (t.get("tags") or [])
                    and fakes.zendesk.users.get(int(t.get("requester_id") or 0), {})
                    .get("email") == email]

        found = eventually(proactive, "proactive ticket")
        settle()
        assert len(proactive()) == 1
        assert found[0]["group_id"] == 77 and found[0]["type"] == "task"
        note = found[0]["_comments"][0]
        assert note["public"] is False and "churn-risk" in note["body"]


class TestR8Escalation:
    """An escalate tag opens one linked Zendesk ticket with mapped priority."""

    def test_r8_escalation_creates_one_linked_ticket(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r8.gil@example.com"
        conv = conversation("conv-r8", email, "ic-r8-gil", priority="priority")
        send_intercom(worker, "conversation.user.created", conv)
        for event in ("tag-r8-1", "tag-r8-2"):
            send_intercom(worker, "conversation_part.tag.created",
                          {**conv, "tags_added": {"tags": [{"name": "escalate"}]}},
                          event_id=event)

        def linked() -> list[dict[str, Any]]:
            return [t for t in fakes.zendesk.tickets.values()
                    if "intercom_conversation_conv-r8" in (t.get("tags") or [])]

        found = eventually(linked, "escalated ticket")
        settle()
        assert len(linked()) == 1
        assert found[0]["priority"] == "urgent"
        assert "conv-r8" in found[0]["_comments"][0]["body"]


class TestR9StatusBack:
    """A linked ticket's status is noted on the conversation, which closes when solved."""

    def test_r9_status_back_notes_and_closes_without_loop(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r9.hil@example.com"
        conv = fakes.intercom.seed_conversation()
        link = f"intercom_conversation_{conv['id']}"
        ticket_id = fakes.zendesk.seed_ticket(tags=[link])["id"]
        send_zendesk(worker, zendesk_ticket(ticket_id, "pending", minutes_ago(10), email,
                                            tags=link))
        eventually(lambda: conv["conversation_parts"]["total_count"] >= 1, "pending note")
        send_zendesk(worker, zendesk_ticket(ticket_id, "solved", minutes_ago(5), email,
                                            tags=link))
        eventually(lambda: conv["state"] == "closed", "conversation closed")
        parts = conv["conversation_parts"]["conversation_parts"]
        assert [p["part_type"] for p in parts] == ["note", "note", "close"]
        assert "is now solved" in parts[1]["body"] and parts[1]["author"]["id"] == ADMIN_ID
        # Intercom reports the close we made: nothing goes back to Zendesk.
        before = len(fakes.zendesk.requests)
        send_intercom(worker, "conversation.admin.closed",
                      conversation(conv["id"], email, "ic-r9-hil", state="closed"))
        settle()
        assert len(fakes.zendesk.requests) == before


class TestR10ProfileSync:
    """Newer values cross helpdesks; echoes and older conflicting updates change nothing."""

    def test_r10_profile_sync_newer_wins_without_loop(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r10.kim@example.com"
        user_id = seed_user(fakes, email, "Kim Z")
        send_intercom(worker, "contact.user.created",
                      contact(email, "ic-r10-kim", name="Kim Z",
                              updated_at=int(minutes_ago(30).timestamp())))
        eventually(lambda: known_to_intercom(fakes, email), "Intercom id held")
        send_zendesk(worker, zendesk_user(email, user_id, "Kim Zed", iso(minutes_ago(20)),
                                          "zu-1"))
        eventually(lambda: intercom_contact(fakes, email).get("name") == "Kim Zed",
                   "Zendesk name to Intercom")
        send_intercom(worker, "contact.user.updated",
                      contact(email, "ic-r10-kim", name="Kim I",
                              updated_at=int(minutes_ago(10).timestamp())))
        eventually(lambda: fakes.zendesk.users[user_id]["name"] == "Kim I", "name to Zendesk")
        assert fakes.zendesk.requests_to("PUT", f"/api/v2/users/{user_id}")
        ic = intercom_contact(fakes, email)
        writes = len(fakes.intercom.requests_to("PUT", f"/contacts/{ic.get('id')}"))
        user_path = f"/api/v2/users/{user_id}"  # R10 updates the user by its id
        zendesk_writes = len(fakes.zendesk.requests_to("PUT", user_path))
        # Our write echoed back by Zendesk, then an older conflicting Zendesk value.
        send_zendesk(worker, zendesk_user(email, user_id, "Kim I", iso(minutes_ago(5)), "zu-2"))
        send_zendesk(worker, zendesk_user(email, user_id, "Kim Old", iso(minutes_ago(15)),
                                          "zu-3"))
        settle(3)
        # No ping-pong and no older value: later writes, if any, only repeat what was already
        # written (identical values may repeat, SPEC S10), and the count has stopped growing.
        later_ic = fakes.intercom.requests_to("PUT", f"/contacts/{ic.get('id')}")[writes:]
        later_zd = fakes.zendesk.requests_to("PUT", user_path)[zendesk_writes:]
        assert all((r.json or {}).get("name") in (None, "Kim Zed") for r in later_ic)
        assert all(((r.json or {}).get("user") or {}).get("name") in (None, "Kim I")
                   for r in later_zd)
        def ours() -> tuple[int, int]:
            return (len(fakes.intercom.requests_to("PUT", f"/contacts/{ic.get('id')}")),
                    len(fakes.zendesk.requests_to("PUT", user_path)))

        counts = ours()
        settle(2)
        assert ours() == counts
        assert fakes.zendesk.users[user_id]["name"] == "Kim I"
        assert intercom_contact(fakes, email)["name"] == "Kim Zed"  # never "Kim Old"


class TestR11TagMapping:
    """Mapped tags cross between linked conversations and tickets, once."""

    def test_r11_tag_mapping_both_ways_without_loop(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r11.lea@example.com"
        conv = fakes.intercom.seed_conversation()
        link = f"intercom_conversation_{conv['id']}"
        ticket_id = fakes.zendesk.seed_ticket(tags=[link, "billing"])["id"]
        send_zendesk(worker, zendesk_ticket(ticket_id, "open", minutes_ago(10), email,
                                            tags=f"{link} billing"))
        eventually(lambda: [t["name"] for t in conv["tags"]["tags"]] == ["Billing"],
                   "Billing on the conversation")
        tagged = conversation(conv["id"], email, "ic-r11-lea")
        send_intercom(worker, "conversation_part.tag.created",  # the echo of our write
                      {**tagged, "tags_added": {"tags": [{"name": "Billing"}]}})
        send_intercom(worker, "conversation_part.tag.created",
                      {**tagged, "tags_added": {"tags": [{"name": "Priority"}]}})
        eventually(lambda: "priority_support" in fakes.zendesk.tickets[ticket_id]["tags"],
                   "priority_support on the ticket")
        settle()
        puts = fakes.zendesk.requests_to("PUT", f"/api/v2/tickets/{ticket_id}")
        assert len(puts) == 1
        assert len(fakes.intercom.requests_to("POST", f"/conversations/{conv['id']}/tags")) == 1


class TestR12Acknowledge:
    """A web-form ticket is acknowledged once in Intercom with the expected response time."""

    def test_r12_acknowledge_new_web_ticket_once(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r12.max@example.com"
        send_intercom(worker, "contact.user.created", contact(email, "ic-r12-max"))
        eventually(lambda: known_to_intercom(fakes, email), "Intercom id held")
        for status, ago in (("new", 5), ("open", 4)):
            send_zendesk(worker, zendesk_ticket(7912, status, minutes_ago(ago), email,
                                                priority="high", channel="Web Form"))

        def acks() -> list[dict[str, Any]]:
            return [e for e in fakes.intercom.events
                    if e.get("event_name") == "zendesk_ticket_acknowledged"
                    and e.get("email") == email]

        found = eventually(acks, "acknowledgement")
        settle()
        assert len(acks()) == 1
        assert found[0]["metadata"] == {"ticket_id": "7912", "expected_response": "4 hours"}


class TestR13CustomerioToIntercom:
    """Segments, conversions and lifecycle events reach the Intercom contact."""

    def test_r13_segments_conversions_and_events_to_intercom(
        self, worker: WorkerProcess, fakes: Platforms, tag_ids: dict[str, str]
    ) -> None:
        email = "r13.ned@example.com"
        send_intercom(worker, "contact.user.created", contact(email, "ic-r13-ned"))
        eventually(lambda: known_to_intercom(fakes, email), "contact known")
        send_customerio(worker, cio_action("segment_entered", email, segment="vip"))
        send_customerio(worker, cio_metric("converted", email))
        send_customerio(worker, cio_action("lifecycle_event", email, name="trial_started",
                                           attributes={"plan": "pro"}))
        found = eventually(
            lambda: (c := intercom_contact(fakes, email))
            and c["custom_attributes"].get("cio_segment_vip") is True
            and c["custom_attributes"].get("last_conversion_at") and c, "contact attributes",
        )
        eventually(lambda: tag_ids["VIP"] in [t["id"] for t in found["tags"]["data"]], "tag")
        event = eventually(
            lambda: [e for e in fakes.intercom.events if e.get("event_name") == "trial_started"
                     and e.get("email") == email], "data event",
        )
        assert event[0]["metadata"] == {"plan": "pro"}
