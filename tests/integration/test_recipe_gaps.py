"""Recipes keep what SPEC S5 promises (issue 15, items 11–15), end to end through the
broker against the contract-validating fakes.

One worker (every sink live) serves the module; every test uses its own customers.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import minutes_ago, state_of
from tests.integration.test_recipe_harness import (
    ADMIN_ID,
    DSN,
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


USER_FIELDS = ("last_email_open_at", "last_campaign", "days_since_last_open")


@pytest.fixture(scope="module")
def fakes() -> Iterator[Platforms]:
    with platforms() as found:
        found.zendesk.user_fields = [  # the Zendesk account defines R3's user fields
            {"id": i, "key": key, "type": "text", "title": key}
            for i, key in enumerate(USER_FIELDS, 1)
        ]
        found.intercom.add_tag("Gold")
        yield found


def gold_tag(fakes: Platforms) -> str:
    return next(tag_id for tag_id, name in fakes.intercom.tags.items() if name == "Gold")


@pytest.fixture(scope="module")
def worker(
    broker: EmbeddedBroker, fakes: Platforms, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    config: dict[str, Any] = {
        "replay": {"one_off_horizon_hours": 24},
        "recipes": {
            "r13_cio_to_intercom": {"segment_tag_ids": {"gold": gold_tag(fakes)}},
            "r12_acknowledge": {"mode": "message"},
            "r7_churn_outreach": {"intercom_conversation": True,
                                  "default_csm_admin_id": ADMIN_ID},
        },
    }
    tmp = tmp_path_factory.mktemp("recipes-promises")
    with start_worker(broker.bootstrap_servers, fakes, config, tmp) as proc:
        yield proc


def events_of(fakes: Platforms, email: str, name: str | None = None) -> list[dict[str, Any]]:
    person = fakes.cio.people.get(email)
    found = [] if person is None else list(person.events)
    return [e for e in found if name is None or e.get("name") == name]


def attributes_of(fakes: Platforms, email: str) -> dict[str, Any]:
    person = fakes.cio.people.get(email)
    return {} if person is None else dict(person.attributes)


class TestItem11CsatEveryRating:
    """Every rating is a CSAT event with score and comment; rendered ratings are parsed;
    a low rating starts recovery once, however often a trigger repeats it."""

    def test_item11_every_rating_tracks_csat_and_low_recovers_once(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i11.ann@example.com"
        send_zendesk(worker, zendesk_ticket(11601, "open", minutes_ago(40), email))
        good = zendesk_ticket(11601, "solved", minutes_ago(30), email)
        good["satisfaction"] = {"score": "Good, I'm satisfied", "comment": "Quick and kind"}
        send_zendesk(worker, good)
        csat = eventually(lambda: events_of(fakes, email, "csat_received"), "good CSAT event")
        assert csat[0]["data"]["score"] == "good"
        assert csat[0]["data"]["comment"] == "Quick and kind"
        assert csat[0]["data"]["low"] is False

        send_zendesk(worker, zendesk_ticket(11602, "open", minutes_ago(20), email))
        for minutes in (10, 8, 6):  # the trigger renders the same rating into each update
            bad = zendesk_ticket(11602, "solved", minutes_ago(minutes), email)
            bad["satisfaction"] = {"score": "Bad, I'm unsatisfied", "comment": "Too slow"}
            send_zendesk(worker, bad)
        low = eventually(lambda: events_of(fakes, email, "low_csat_received"), "low event")
        assert low[0]["data"]["comment"] == "Too slow"
        eventually(lambda: attributes_of(fakes, email).get("support_state") == "recovery",
                   "recovery")
        settle()
        assert len(events_of(fakes, email, "low_csat_received")) == 1
        bad_events = [e for e in events_of(fakes, email, "csat_received")
                      if e["data"]["score"] == "bad"]
        assert len(bad_events) == 1
        doc = state_of(worker.admin_port, email)
        assert doc is not None
        lows = [n for n in doc.get("recent_transitions", [])
                if n.get("kind") == "csat_received" and n.get("reason") == "low_csat"]
        assert len(lows) == 1


def seed_zendesk_user(fakes: Platforms, email: str, name: str) -> int:
    user_id = 95000 + len(fakes.zendesk.users)
    fakes.zendesk.users[user_id] = {"id": user_id, "email": email, "name": name,
                                    "role": "end-user", "user_fields": {}}
    return user_id


class TestItem13DaysSinceLastOpen:
    """days_since_last_open follows the days that pass after an open (0 on the day)."""

    def test_item13_days_since_last_open_counts_the_days_passed(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i13.bea@example.com"
        user_id = seed_zendesk_user(fakes, email, "Bea")
        send_zendesk(worker, zendesk_ticket(13601, "solved", minutes_ago(4 * 1440), email,
                                            requester_id=str(user_id)))
        eventually(lambda: attributes_of(fakes, email).get("last_ticket_status"), "ticket seen")
        # The state has seen nothing newer than the open: the machine's daily timer (not
        # the open itself) has to count the three days that passed since.
        opened = cio_metric("opened", email, campaign_id=13)
        opened["timestamp"] = int(time.time()) - 3 * 86400 - 3600  # three days and an hour ago
        send_customerio(worker, opened)
        fields = eventually(
            lambda: (f := fakes.zendesk.users[user_id]["user_fields"]).get("last_email_open_at")
            and f.get("days_since_last_open") == 3 and f,
            "three days since the last open",
        )
        assert fields["last_campaign"] == "13"
        today = cio_metric("opened", email, campaign_id=14)
        send_customerio(worker, today)
        eventually(lambda: fakes.zendesk.users[user_id]["user_fields"].get(
            "days_since_last_open") == 0 and fakes.zendesk.users[user_id]["user_fields"].get(
            "last_campaign") == "14", "0 on the day of an open")


def audience_calls(fakes: Platforms, operation: str, email: str) -> set[str]:
    """The audiences a hashed email was sent to with `operation` (add/remove)."""
    hashed = hashlib.sha256(email.encode()).hexdigest()
    return {call["audience"] for call in fakes.collector.audiences
            if call["operation"] == operation and hashed in call["members"]}


class TestItem12AdsConsent:
    """Ads audiences need an opt-in by default; withdrawing ads consent removes the person
    from every audience."""

    def test_item12_withdrawal_removes_from_every_audience_and_opt_in_is_default(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        opted, silent = "i12.cal@example.com", "i12.dan@example.com"
        send_customerio(worker, cio_action("subscribed", opted, channel="ads"))
        time.sleep(1)
        send_zendesk(worker, zendesk_ticket(12601, "open", minutes_ago(5), opted))
        send_zendesk(worker, zendesk_ticket(12602, "open", minutes_ago(5), silent))
        eventually(lambda: "suppress_promos" in audience_calls(fakes, "add", opted),
                   "opted-in customer added")
        send_customerio(worker, cio_action("unsubscribed", opted, channel="ads"))
        eventually(lambda: audience_calls(fakes, "remove", opted)
                   >= {"suppress_promos", "service_recovery"}, "removed from every audience")
        eventually(lambda: attributes_of(fakes, silent).get("has_open_ticket"), "silent open")
        settle()
        assert audience_calls(fakes, "add", silent) == set()  # never opted in


class TestItem14Merges:
    """Merging two customers keeps both emails, merges the absorbed Customer.io profile
    into the survivor's (its suppression never stays on) and takes the absorbed email out
    of the ad audiences."""

    def test_item14_merge_keeps_every_email_and_lifts_the_absorbed_suppression(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        first, second = "i14.eve@example.com", "i14.fay@example.com"
        send_zendesk(worker, zendesk_ticket(14601, "open", minutes_ago(30), first,
                                            requester_id="14001"))
        send_zendesk(worker, zendesk_ticket(14602, "open", minutes_ago(29), second))
        for email in (first, second):
            eventually(lambda e=email: attributes_of(fakes, e).get(  # type: ignore[misc]
                "has_open_ticket") is True, f"{email} suppressed")
        # The same Zendesk user now shows the second email: the two customers are one.
        send_zendesk(worker, zendesk_ticket(14602, "open", minutes_ago(20), second,
                                            requester_id="14001"))

        def merged() -> dict[str, Any] | None:
            doc = state_of(worker.admin_port, first)
            if doc is None or not doc.get("other_emails"):
                return None
            return doc

        doc = eventually(merged, "one customer with both emails")
        emails = {doc["identities"]["email"], *doc["other_emails"]}
        assert emails == {first, second}
        survivor = doc["identities"]["email"]
        absorbed = (emails - {survivor}).pop()
        calls = eventually(lambda: [r.json for r in fakes.cio.requests
                                    if r.path.endswith("/merge_customers")], "merge_customers")
        assert calls[0]["primary"] == {"email": survivor}
        assert calls[0]["secondary"] == {"email": absorbed}
        eventually(lambda: absorbed not in fakes.cio.people, "absorbed profile merged away")
        for ticket_id in (14601, 14602):
            send_zendesk(worker, zendesk_ticket(ticket_id, "solved", minutes_ago(5), survivor,
                                                requester_id="14001"))
        eventually(lambda: attributes_of(fakes, survivor).get("has_open_ticket") is False,
                   "survivor lifted")
        assert absorbed not in fakes.cio.people  # no profile left suppressed
        eventually(lambda: {"suppress_promos", "service_recovery"} <= audience_calls(
            fakes, "remove", absorbed), "absorbed email out of every audience")


def intercom_contact(fakes: Platforms, email: str) -> dict[str, Any]:
    return next((c for c in fakes.intercom.contacts.values() if c.get("email") == email), {})


def intercom_person(email: str, contact_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "contact", "id": contact_id, "email": email, "role": "user",
            "updated_at": int(time.time()), **fields}


class TestItem15R13TagRemovedOnSegmentExit:
    """The segment's Intercom tag follows membership: added on entry, removed on exit."""

    def test_item15_r13_removes_the_tag_on_segment_exit(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i15.gil@example.com"
        send_intercom(worker, "contact.user.created", intercom_person(email, "ic-i15-gil"))
        eventually(lambda: attributes_of(fakes, email).get("intercom_contact_id"), "known")
        tag = gold_tag(fakes)

        def tags() -> list[str]:
            return [t["id"] for t in intercom_contact(fakes, email).get("tags", {}).get(
                "data", [])]

        send_customerio(worker, cio_action("segment_entered", email, segment="gold"))
        eventually(lambda: tag in tags(), "tag on entry")
        send_customerio(worker, cio_action("segment_exited", email, segment="gold"))
        eventually(lambda: intercom_contact(fakes, email)["custom_attributes"].get(
            "cio_segment_gold") is False, "attribute on exit")
        eventually(lambda: tag not in tags(), "tag removed on exit")


class TestItem15IntercomTicketsClose:
    """An Intercom ticket suppresses while open and is lifted by its state update."""

    def test_item15_intercom_ticket_closes_on_state_update(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i15.hue@example.com"
        now = int(time.time())
        item: dict[str, Any] = {
            "type": "ticket", "id": "15701", "ticket_id": "57",
            "ticket_state": {"type": "ticket_state", "id": "1", "category": "submitted"},
            "ticket_attributes": {"_default_title_": "Broken invoice"},
            "contacts": {"type": "contact.list", "contacts": [
                {"type": "contact", "id": "ic-i15-hue", "email": email}]},
            "created_at": now - 600, "updated_at": now - 600, "open": True,
        }
        send_intercom(worker, "ticket.created", item)
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is True, "open")
        resolved = {**item, "updated_at": now - 60,
                    "ticket_state": {"type": "ticket_state", "id": "4", "category": "resolved"}}
        send_intercom(worker, "ticket.state.updated", resolved)
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is False,
                   "lifted by the state update")


def known_intercom_contact(worker: WorkerProcess, fakes: Platforms, email: str,
                           contact_id: str) -> None:
    """A contact that exists in Intercom, and whose webhook the worker has applied."""
    fakes.intercom.seed_contact(email, contact_id)
    send_intercom(worker, "contact.user.created", intercom_person(email, contact_id))
    eventually(lambda: attributes_of(fakes, email).get("intercom_contact_id"), "known")


class TestItem15R12SendsAnIntercomMessage:
    """With mode: message, a new web-form ticket is acknowledged by a real Intercom email."""

    def test_item15_r12_sends_a_real_intercom_message(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email, contact_id = "i15.ivy@example.com", "0000000000000000000ac015"
        known_intercom_contact(worker, fakes, email, contact_id)
        send_zendesk(worker, zendesk_ticket(15801, "new", minutes_ago(2), email,
                                            channel="web", priority="high"))
        sent = eventually(lambda: [m for m in fakes.intercom.messages
                                   if m["to"]["id"] == contact_id], "message sent")
        assert sent[0]["message_type"] == "email"
        assert sent[0]["from"] == {"type": "admin", "id": int(ADMIN_ID)}
        assert "#15801" in sent[0]["subject"] and "4 hours" in sent[0]["body"]
        send_zendesk(worker, zendesk_ticket(15801, "open", minutes_ago(1), email,
                                            channel="web", priority="high"))
        settle()
        assert len([m for m in fakes.intercom.messages if m["to"]["id"] == contact_id]) == 1


class TestItem15R7OpensAnIntercomConversation:
    """Entering churn-risk also opens an Intercom conversation assigned to the CSM, with
    the support context as an internal note (never sent to the customer)."""

    def test_item15_r7_opens_the_intercom_conversation_for_the_csm(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email, contact_id = "i15.jay@example.com", "0000000000000000000ac016"
        known_intercom_contact(worker, fakes, email, contact_id)
        send_customerio(worker, cio_action("segment_entered", email, segment="churn-risk"))

        def opened() -> list[dict[str, Any]]:
            return [c for c in fakes.intercom.conversations.values()
                    if any(p.get("id") == contact_id
                           for p in c.get("contacts", {}).get("contacts", []))
                    and c.get("admin_assignee_id") == ADMIN_ID]

        conversation = eventually(opened, "conversation assigned to the CSM")[0]
        parts = conversation["conversation_parts"]["conversation_parts"]
        notes = [p["body"] for p in parts if p["part_type"] == "note"]
        assert notes and "churn-risk" in notes[0]
        assert "churn-risk" not in conversation["source"]["body"]  # the customer sees no context


def report_rows(schema: str, customer_key: str) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(DSN)
        try:
            rows = await conn.fetch(
                f"SELECT * FROM {schema}.support_report WHERE customer_key = $1", customer_key)
        except asyncpg.UndefinedTableError:
            return []
        finally:
            await conn.close()
        return [dict(r) for r in rows]

    return asyncio.run(run())


class TestItem15R18WarehouseRows:
    """Ticket volume, resolution time and CSAT land as support_report rows in PostgreSQL."""

    def test_item15_r18_writes_warehouse_rows(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i15.kim@example.com"
        # One clock read: two would differ by a second now and then (1201 s, not 1200 s).
        opened = minutes_ago(30)
        send_zendesk(worker, zendesk_ticket(15901, "open", opened, email))
        rated = zendesk_ticket(15901, "solved", opened + timedelta(minutes=20), email)
        rated["satisfaction"] = {"score": "good"}
        send_zendesk(worker, rated)
        doc = eventually(lambda: state_of(worker.admin_port, email), "state")
        key = doc["customer_key"]
        rows = eventually(lambda: len(r := report_rows(fakes.schema, key)) >= 3 and r,
                          "three report rows")
        by_event = {r["event"]: r for r in rows}
        assert set(by_event) == {"ticket_opened", "ticket_resolved", "csat"}
        assert by_event["ticket_resolved"]["resolution_seconds"] == 20 * 60
        assert by_event["csat"]["score"] == "good" and by_event["csat"]["low"] is False
        assert all(r["ticket_id"] == "15901" and r["source"] == "zendesk" for r in rows)


class TestItem15R8TranscriptInTicket:
    """An escalated conversation's transcript is in the Zendesk ticket, not only a link."""

    def test_item15_r8_puts_the_transcript_in_the_ticket(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i15.lee@example.com"
        now = int(time.time())
        conv: dict[str, Any] = {
            "type": "conversation", "id": "conv-i15-lee", "state": "open",
            "created_at": now - 600, "updated_at": now - 60,
            "contacts": {"contacts": [{"id": "ic-i15-lee", "email": email}]},
            "source": {"type": "conversation", "body": "<p>My invoice is wrong twice</p>",
                       "author": {"type": "user", "name": "Lee"}},
            "conversation_parts": {"type": "conversation_part.list", "conversation_parts": [
                {"type": "conversation_part", "part_type": "comment",
                 "body": "<p>Sorry &amp; checking now</p>",
                 "author": {"type": "admin", "name": "Sam"}}]},
        }
        send_intercom(worker, "conversation.user.created", conv)
        send_intercom(worker, "conversation_part.tag.created",
                      {**conv, "tags_added": {"tags": [{"name": "escalate"}]}})

        def linked() -> list[dict[str, Any]]:
            return [t for t in fakes.zendesk.tickets.values()
                    if "intercom_conversation_conv-i15-lee" in (t.get("tags") or [])]

        ticket = eventually(linked, "escalated ticket")[0]
        body = ticket["_comments"][0]["body"]
        assert "Lee (user): My invoice is wrong twice" in body
        assert "Sam (admin): Sorry & checking now" in body
