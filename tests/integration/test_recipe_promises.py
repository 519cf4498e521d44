"""The recipes keep their promises on every set-up (issue 15, items 1-5), end to end.

Two workers against the contract-validating fakes:
- `live`: every destination's credentials (Zendesk API included), two webhook secrets per
  source and a recipe file that says where the ticket reason is;
- `bare`: no Zendesk API credentials and no `SUPPORTSYNC_SINKS` (the default set), with
  Customer.io and Intercom credentials only.
Every test uses its own customers and tickets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from app.testing import WorkerProcess
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import (
    CIO_KEY,
    CIO_SITE,
    ZENDESK_SECRET,
    iso,
    minutes_ago,
    post,
    state_of,
    zendesk_headers,
)
from tests.integration.test_recipe_harness import (
    ADMIN_ID,
    CIO_SIGNING_KEY,
    INTERCOM_SECRET,
    WRITE_KEY,
    Platforms,
    cio_action,
    dead_letters,
    eventually,
    platforms,
    send_customerio,
    send_intercom,
    send_zendesk,
    settle,
    zendesk_ticket,
)

pytestmark = pytest.mark.broker

# The first secret of each list; the harness senders sign with the second.
OTHER_ZENDESK_SECRET = "zendesk-trigger-webhook-secret"
OTHER_INTERCOM_SECRET = "intercom-rotated-secret"
OTHER_CIO_KEY = "cio-reporting-webhook-key"
OTHER_WRITE_KEY = "pipelines-rotated-key"
REASON_FIELD_ID = 360001


@pytest.fixture(scope="module")
def fakes() -> Iterator[Platforms]:
    with platforms() as found:
        yield found


@pytest.fixture(scope="module")
def live(
    broker: EmbeddedBroker, fakes: Platforms, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    config = {
        "sources": {
            "zendesk": {"reason_field_id": REASON_FIELD_ID, "reason_tag_prefix": "reason_"},
            "intercom": {"reason_attribute": "Contact reason"},
        },
    }
    tmp = tmp_path_factory.mktemp("promises-live")
    path = tmp / "supportsync.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {
        **fakes.env(path),
        "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": f"{OTHER_ZENDESK_SECRET},{ZENDESK_SECRET}",
        "SUPPORTSYNC_INTERCOM_CLIENT_SECRET": f"{OTHER_INTERCOM_SECRET}, {INTERCOM_SECRET}",
        "SUPPORTSYNC_CUSTOMERIO_WEBHOOK_SIGNING_KEY": f"{OTHER_CIO_KEY},{CIO_SIGNING_KEY}",
        "SUPPORTSYNC_PIPELINES_WRITE_KEY": f"{OTHER_WRITE_KEY},{WRITE_KEY}",
    }
    with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
        proc.wait_healthy(timeout=90)
        yield proc


@pytest.fixture(scope="module")
def bare(
    broker: EmbeddedBroker, fakes: Platforms, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    tmp: Path = tmp_path_factory.mktemp("promises-bare")
    env = {
        "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
        "SUPPORTSYNC_INTERCOM_CLIENT_SECRET": INTERCOM_SECRET,
        "SUPPORTSYNC_CUSTOMERIO_WEBHOOK_SIGNING_KEY": CIO_SIGNING_KEY,
        "SUPPORTSYNC_CUSTOMERIO_TRACK_URL": fakes.cio.track_url,
        "SUPPORTSYNC_CUSTOMERIO_SITE_ID": CIO_SITE,
        "SUPPORTSYNC_CUSTOMERIO_API_KEY": CIO_KEY,
        "SUPPORTSYNC_INTERCOM_BASE_URL": fakes.intercom.base_url,
        "SUPPORTSYNC_INTERCOM_ACCESS_TOKEN": "test-token",
        "SUPPORTSYNC_INTERCOM_ADMIN_ID": ADMIN_ID,
        "SUPPORTSYNC_CONFIG": str(tmp / "absent-is-fine.yaml"),
    }
    (tmp / "absent-is-fine.yaml").write_text("{}\n")
    with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
        proc.wait_healthy(timeout=90)
        yield proc


# -- helpers --------------------------------------------------------------------------------


def attributes_of(fakes: Platforms, email: str) -> dict[str, Any]:
    person = fakes.cio.people.get(email)
    return {} if person is None else dict(person.attributes)


def events_of(fakes: Platforms, email: str, name: str) -> list[dict[str, Any]]:
    person = fakes.cio.people.get(email)
    return [] if person is None else [e for e in person.events if e.get("name") == name]


def intercom_contact(fakes: Platforms, email: str) -> dict[str, Any]:
    return next((c for c in fakes.intercom.contacts.values() if c.get("email") == email), {})


def contact(email: str, contact_id: str) -> dict[str, Any]:
    return {"type": "contact", "id": contact_id, "email": email, "role": "user",
            "updated_at": int(time.time())}


def known_to_intercom(fakes: Platforms, email: str) -> bool:
    """The contact webhook was applied: R14 put its Intercom id on the Customer.io person."""
    return bool(attributes_of(fakes, email).get("intercom_contact_id"))


def ticket_event(kind: str, ticket_id: str, requester_id: str, **detail: Any) -> dict[str, Any]:
    """An event-subscribed Zendesk ticket webhook body (names only the requester's id)."""
    now = iso(minutes_ago(0))
    return {
        "type": f"zen:event-type:ticket.{kind}", "id": f"zd-{uuid.uuid4().hex[:12]}",
        "time": now, "subject": f"zen:ticket:{ticket_id}",
        "detail": {"id": ticket_id, "requester_id": requester_id, "status": "NEW",
                   "created_at": now, "updated_at": now, **detail},
        "event": {},
    }


def metrics_text(worker: WorkerProcess) -> str:
    with urllib.request.urlopen(worker.admin_url("/metrics"), timeout=10) as resp:
        text: str = resp.read().decode()
    return text


def routed_sinks(worker: WorkerProcess) -> set[str]:
    """The sinks `supportsync_actions_total` counted actions for."""
    found = set()
    for line in metrics_text(worker).splitlines():
        if line.startswith("supportsync_actions_total{"):
            labels = line.split("{", 1)[1].split("}", 1)[0]
            found |= {part.split("=", 1)[1].strip('"') for part in labels.split(",")
                      if part.startswith("sink=")}
    return found


# -- item 1 ---------------------------------------------------------------------------------


class TestItem1EventSubscribedTickets:
    """A ticket event naming only requester_id still suppresses the requester's email."""

    def test_requester_looked_up_with_zendesk_credentials(
        self, live: WorkerProcess, fakes: Platforms
    ) -> None:
        email, user_id = "i1.api@example.com", 66001
        fakes.zendesk.users[user_id] = {"id": user_id, "email": email, "name": "Ida",
                                        "role": "end-user", "user_fields": {}}
        send_zendesk(live, ticket_event("created", "8101", str(user_id)))
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is True,
                   "suppression for the looked-up email")
        eventually(lambda: events_of(fakes, email, "zendesk_ticket_created"), "created event")
        send_zendesk(live, ticket_event("status_changed", "8101", str(user_id), status="SOLVED",
                                        updated_at=iso(minutes_ago(-0.1))))
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is False,
                   "suppression lifted")
        # Cached: one look-up for the requester, however many of its events arrive.
        assert len(fakes.zendesk.requests_to("GET", f"/api/v2/users/{user_id}")) == 1

    def test_parked_without_credentials_until_the_user_event(
        self, bare: WorkerProcess, fakes: Platforms
    ) -> None:
        email, user_id = "i1.park@example.com", "66002"
        send_zendesk(bare, ticket_event("created", "8102", user_id))
        parked = eventually(
            lambda: (s := state_of(bare.admin_port, f"zendesk_user_id:{user_id}"))
            and s.get("parked_events") == 1 and s, "the ticket parked",
        )
        assert parked["tickets"] == []
        user = {"type": "zen:event-type:user.created", "id": "zd-i1-user-66002",
                "time": iso(minutes_ago(0)), "subject": f"zen:user:{user_id}",
                "detail": {"id": user_id, "email": email, "role": "end-user"}}
        send_zendesk(bare, user)
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is True,
                   "suppression once the email arrived")
        created = eventually(lambda: events_of(fakes, email, "zendesk_ticket_created"),
                             "ticket created event")
        assert created[0]["data"]["ticket_id"] == "8102"
        assert 'supportsync_events_parked_total{outcome="released"}' in metrics_text(bare)


    def test_no_identifier_customer_suppressed_once_the_email_is_known_and_redrive_is_harmless(
        self, broker: EmbeddedBroker, bare: WorkerProcess, fakes: Platforms
    ) -> None:
        email, contact_id = "i1.redrive@example.com", "ic-i1-redrive"
        conv = {"type": "conversation", "id": "conv-i1-redrive", "state": "open",
                "created_at": int(time.time()) - 60, "updated_at": int(time.time()),
                "contacts": {"contacts": [{"id": contact_id}]}}
        send_intercom(bare, "conversation.user.created", conv)  # no email: R1 dead letter
        eventually(lambda: [d for d in dead_letters(broker.bootstrap_servers, bare, 0.5)
                            if d.get("reason") == "no_identifier"], "no_identifier letter")
        # The email linked to the contact makes the customer addressable: R1 sends what the
        # dead-lettered write would have (identities_linked), without waiting for a redrive.
        send_intercom(bare, "contact.user.created", contact(email, contact_id))
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is True,
                   "suppression once the email is known")
        held = attributes_of(fakes, email)
        env = {**os.environ, "SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
               "SUPPORTSYNC_TOPIC_PREFIX": bare.prefix, "SUPPORTSYNC_PARTITIONS": "4"}
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "dlq", "redrive", "--reason", "no_identifier"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 0 and "redriven 1" in done.stdout, done.stdout + done.stderr
        settle(3)  # the redriven write says what Customer.io already holds
        assert attributes_of(fakes, email) == held


# -- item 2 ---------------------------------------------------------------------------------


class TestItem2WebhookSecretLists:
    """Every source accepts any secret of its list and still refuses others."""

    def test_each_listed_secret_is_accepted(self, live: WorkerProcess, fakes: Platforms) -> None:
        email = "i2.joy@example.com"
        body = orjson.dumps(zendesk_ticket(8201, "open", minutes_ago(1), email))
        assert post(live.url("/webhooks/zendesk"), body,
                    zendesk_headers(body, OTHER_ZENDESK_SECRET))[0] == 200
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is True,
                   "ticket signed with the first Zendesk secret")
        assert post(live.url("/webhooks/zendesk"), body, zendesk_headers(body, "nope"))[0] == 401

        note = orjson.dumps({"type": "notification_event", "id": "notif_i2_joy",
                             "topic": "contact.user.created", "created_at": int(time.time()),
                             "data": {"item": contact(email, "ic-i2-joy")}})
        sig = hmac.new(OTHER_INTERCOM_SECRET.encode(), note, hashlib.sha1).hexdigest()
        assert post(live.url("/webhooks/intercom"), note,
                    {"Content-Type": "application/json",
                     "X-Hub-Signature": f"sha1={sig}"})[0] == 200
        eventually(lambda: known_to_intercom(fakes, email), "contact signed with the first key")

        doc = cio_action("segment_entered", email, segment="vip")
        cio_body = orjson.dumps(doc)
        ts = str(int(time.time()))
        mac = hmac.new(OTHER_CIO_KEY.encode(), f"v0:{ts}:".encode() + cio_body, hashlib.sha256)
        assert post(live.url("/webhooks/customerio"), cio_body,
                    {"Content-Type": "application/json", "X-CIO-Signature": mac.hexdigest(),
                     "X-CIO-Timestamp": ts})[0] == 200
        # R13 mirrors the segment onto the Intercom contact.
        eventually(lambda: intercom_contact(fakes, email).get("custom_attributes", {})
                   .get("cio_segment_vip") is True, "segment signed with the first key")

        identify = orjson.dumps({"messageId": "m-i2-joy", "userId": "u-i2-joy",
                                 "traits": {"email": "i2.pipe@example.com", "name": "Pip"}})
        auth = base64.b64encode(f"{OTHER_WRITE_KEY}:".encode()).decode()
        assert post(live.url("/v1/identify"), identify,
                    {"Content-Type": "application/json",
                     "Authorization": f"Basic {auth}"})[0] == 200
        # R19 creates the Zendesk user.
        eventually(lambda: any(u.get("email") == "i2.pipe@example.com"
                               for u in fakes.zendesk.users.values()),
                   "identify with the first write key")


# -- item 3 ---------------------------------------------------------------------------------


class TestItem3TicketReason:
    """The reason comes from a Zendesk tag prefix and an Intercom conversation attribute."""

    def test_reason_reaches_customerio(self, live: WorkerProcess, fakes: Platforms) -> None:
        zd_email, ic_email = "i3.kay@example.com", "i3.lou@example.com"
        send_zendesk(live, zendesk_ticket(8301, "open", minutes_ago(2), zd_email,
                                          tags="vip reason_billing"))
        eventually(lambda: attributes_of(fakes, zd_email).get("ticket_reason") == "billing",
                   "Zendesk reason from the tag prefix")
        [created] = eventually(lambda: events_of(fakes, zd_email, "zendesk_ticket_created"),
                               "created event")
        assert created["data"]["reason"] == "billing"

        now = int(time.time())
        conv = {"type": "conversation", "id": "conv-i3-lou", "state": "open",
                "created_at": now - 60, "updated_at": now,
                "custom_attributes": {"Contact reason": "refund"},
                "contacts": {"contacts": [{"id": "ic-i3-lou", "email": ic_email}]}}
        send_intercom(live, "conversation.user.created", conv)
        eventually(lambda: attributes_of(fakes, ic_email).get("ticket_reason") == "refund",
                   "Intercom reason from the conversation attribute")

    def test_reason_from_the_custom_field_event(
        self, live: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i3.max@example.com"
        send_zendesk(live, zendesk_ticket(8302, "open", minutes_ago(2), email,
                                          requester_id="66301"))
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is True, "open")
        changed = ticket_event("custom_field_changed", "8302", "66301", status="OPEN",
                               created_at=iso(minutes_ago(2)))
        changed["event"] = {"current": "shipping", "previous": None,
                            "custom_field": {"id": REASON_FIELD_ID, "title": "Reason",
                                             "field_type": "tagger"}}
        send_zendesk(live, changed)
        eventually(lambda: attributes_of(fakes, email).get("ticket_reason") == "shipping",
                   "reason from ticket.custom_field_changed")


# -- item 4 ---------------------------------------------------------------------------------


class TestItem4OldTickets:
    """A ticket created before the horizon is not announced, re-prioritised or acknowledged."""

    def test_old_ticket_updated_now_is_not_new(
        self, live: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i4.ned@example.com"
        send_intercom(live, "contact.user.created", contact(email, "ic-i4-ned"))
        eventually(lambda: known_to_intercom(fakes, email), "Intercom id held")
        send_customerio(live, cio_action("segment_entered", email, segment="vip"))
        eventually(lambda: intercom_contact(fakes, email).get("custom_attributes", {})
                   .get("cio_segment_vip") is True, "VIP segment held")
        old = fakes.zendesk.seed_ticket(subject="Old", priority="normal")["id"]
        new = fakes.zendesk.seed_ticket(subject="New", priority="normal")["id"]
        send_zendesk(live, zendesk_ticket(old, "open", minutes_ago(1), email,
                                          channel="Web Form",
                                          created=minutes_ago(0) - timedelta(days=10)))
        send_zendesk(live, zendesk_ticket(new, "open", minutes_ago(0.5), email,
                                          channel="Web Form"))
        # The new ticket gets all three: the control that the old one's silence is real.
        eventually(lambda: [e for e in events_of(fakes, email, "zendesk_ticket_created")
                            if e["data"]["ticket_id"] == str(new)], "new ticket announced")
        eventually(lambda: fakes.zendesk.tickets[new].get("priority") == "high", "R5 on new")
        eventually(lambda: [e for e in fakes.intercom.events if e.get("email") == email
                            and e.get("metadata", {}).get("ticket_id") == str(new)],
                   "R12 on new")
        settle()
        assert [e["data"]["ticket_id"] for e in
                events_of(fakes, email, "zendesk_ticket_created")] == [str(new)]
        assert fakes.zendesk.requests_to("PUT", f"/api/v2/tickets/{old}") == []
        assert fakes.zendesk.tickets[old]["priority"] == "normal"
        assert not [e for e in fakes.intercom.events if e.get("email") == email
                    and e.get("metadata", {}).get("ticket_id") == str(old)]
        eventually(lambda: attributes_of(fakes, email).get("open_ticket_count") == 2,
                   "the old ticket still suppresses")


# -- item 5 ---------------------------------------------------------------------------------


class TestItem5DestinationsWithCredentials:
    """Without SUPPORTSYNC_SINKS every destination with credentials runs; others get no
    actions."""

    def test_intercom_runs_and_zendesk_gets_nothing(
        self, bare: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "i5.ivy@example.com"
        send_intercom(bare, "contact.user.created", contact(email, "ic-i5-ivy"))
        eventually(lambda: known_to_intercom(fakes, email), "Intercom id held")
        # In the VIP segment: R5 would update the Zendesk ticket if Zendesk were enabled.
        send_customerio(bare, cio_action("segment_entered", email, segment="vip"))
        eventually(lambda: intercom_contact(fakes, email).get("custom_attributes", {})
                   .get("cio_segment_vip") is True, "R13 delivered to Intercom")
        send_zendesk(bare, zendesk_ticket(8501, "open", minutes_ago(1), email))
        eventually(lambda: intercom_contact(fakes, email).get("custom_attributes", {})
                   .get("has_open_ticket") is True, "R1 flags on the Intercom contact")
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is True,
                   "R1 to Customer.io")
        assert "intercom" in routed_sinks(bare)
        assert routed_sinks(bare) <= {"customerio", "intercom"}
