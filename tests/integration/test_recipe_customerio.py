"""Recipes that end in Customer.io or ad audiences, end to end: R1, R2, R6, R14, R15, R17.

One worker (every sink live against the contract-validating fakes) serves the module;
every test uses its own customers.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest

from app.testing import WorkerProcess
from contracts.records import RawEnvelope
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import iso, minutes_ago, state_of
from tests.integration.test_recipe_harness import (
    Platforms,
    cio_action,
    cio_metric,
    eventually,
    platforms,
    produce_raw,
    send_customerio,
    send_intercom,
    send_zendesk,
    settle,
    start_worker,
    zendesk_ticket,
)

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def fakes() -> Iterator[Platforms]:
    with platforms() as found:
        yield found


@pytest.fixture(scope="module")
def worker(
    broker: EmbeddedBroker, fakes: Platforms, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    config: dict[str, Any] = {"replay": {"one_off_horizon_hours": 24}}
    tmp = tmp_path_factory.mktemp("recipes-cio")
    with start_worker(broker.bootstrap_servers, fakes, config, tmp) as proc:
        yield proc


def events_of(fakes: Platforms, email: str, name: str | None = None) -> list[dict[str, Any]]:
    person = fakes.cio.people.get(email)
    found = [] if person is None else list(person.events)
    return [e for e in found if name is None or e.get("name") == name]


def attributes_of(fakes: Platforms, email: str) -> dict[str, Any]:
    person = fakes.cio.people.get(email)
    return {} if person is None else dict(person.attributes)


def contact(email: str, contact_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "contact", "id": contact_id, "email": email, "role": "user",
            "updated_at": int(time.time()), **fields}


def intercom_contact(fakes: Platforms, email: str) -> dict[str, Any] | None:
    return next((c for c in fakes.intercom.contacts.values() if c.get("email") == email), None)


class TestR1Suppression:
    """A ticket suppresses the customer in Customer.io and, if Intercom knows them, there."""

    def test_r1_suppression_attributes_reach_customerio_and_intercom(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r1.ann@example.com"
        send_intercom(worker, "contact.user.created", contact(email, "ic-r1-ann", name="Ann"))
        send_zendesk(worker, zendesk_ticket(7101, "open", minutes_ago(5), email))
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is True,
                   "Customer.io suppression")
        attrs = attributes_of(fakes, email)
        assert attrs["support_state"] == "open" and attrs["open_ticket_count"] == 1
        found = eventually(
            lambda: (c := intercom_contact(fakes, email))
            and c["custom_attributes"].get("has_open_ticket") is True and c,
            "Intercom contact flags",
        )
        assert found["custom_attributes"]["support_state"] == "open"
        send_zendesk(worker, zendesk_ticket(7101, "solved", minutes_ago(1), email))
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is False,
                   "suppression lifted")
        assert attributes_of(fakes, email)["support_state"] == "cooldown"

    def test_r1_intercom_contact_known_only_after_the_ticket_opened_gets_the_flags(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r1.lee@example.com"
        send_zendesk(worker, zendesk_ticket(7111, "open", minutes_ago(5), email))
        eventually(lambda: attributes_of(fakes, email).get("has_open_ticket") is True,
                   "Customer.io suppression")
        send_intercom(worker, "contact.user.created", contact(email, "ic-r1-lee", name="Lee"))
        found = eventually(
            lambda: (c := intercom_contact(fakes, email))
            and c["custom_attributes"].get("has_open_ticket") is True and c,
            "Intercom contact flags once Intercom knows the customer",
        )
        assert found["custom_attributes"]["support_state"] == "open"


class TestR2PostResolution:
    """Created and resolved events; a merge resolves nothing; replays send nothing twice."""

    def test_r2_post_resolution_event_but_none_for_a_merged_ticket(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r2.bea@example.com"
        send_zendesk(worker, zendesk_ticket(7201, "new", minutes_ago(30), email,
                                            requester_id="5201"))
        send_zendesk(worker, zendesk_ticket(7202, "open", minutes_ago(25), email,
                                            requester_id="5201"))
        eventually(lambda: len(events_of(fakes, email, "zendesk_ticket_created")) == 2,
                   "two created events")
        merged = {"type": "zen:event-type:ticket.merged", "id": "zd-merge-7202",
                  "time": iso(minutes_ago(20)),
                  "detail": {"id": "7202", "requester_id": "5201", "status": "CLOSED",
                             "updated_at": iso(minutes_ago(20))},
                  "event": {"target_ticket_id": "7201"}}
        send_zendesk(worker, merged)
        send_zendesk(worker, zendesk_ticket(7201, "solved", minutes_ago(10), email,
                                            requester_id="5201", tags="billing"))
        resolved = eventually(
            lambda: events_of(fakes, email, "support_ticket_resolved"), "resolution event"
        )
        settle()
        resolved = events_of(fakes, email, "support_ticket_resolved")
        assert [e["data"]["ticket_id"] for e in resolved] == ["7201"]
        assert abs(resolved[0]["data"]["resolution_seconds"] - 20 * 60) <= 1  # iso seconds
        assert attributes_of(fakes, email)["has_open_ticket"] is False

    def test_r2_replayed_history_sends_no_second_one_off(
        self, broker: EmbeddedBroker, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        live, old = "r2.cal@example.com", "r2.dee@example.com"
        opened = zendesk_ticket(7211, "open", minutes_ago(20), live)
        solved = zendesk_ticket(7211, "solved", minutes_ago(10), live)
        send_zendesk(worker, opened)
        send_zendesk(worker, solved)
        eventually(lambda: events_of(fakes, live, "support_ticket_resolved"), "live resolution")
        days_ago = minutes_ago(5 * 24 * 60)
        history = [
            opened, solved,  # already processed: the replay changes nothing
            zendesk_ticket(7212, "open", days_ago, old),
            zendesk_ticket(7212, "solved", minutes_ago(5 * 24 * 60 - 30), old),
        ]
        produce_raw(broker.bootstrap_servers, worker, [_replayed(doc, days_ago) for doc in history])
        eventually(lambda: attributes_of(fakes, old).get("last_ticket_status") == "solved",
                   "replayed attributes")
        settle()
        assert len(events_of(fakes, live)) == 2  # created + resolved, once each
        assert events_of(fakes, old) == []  # history beyond the horizon: recorded, not sent


def _replayed(doc: dict[str, Any], received: datetime) -> RawEnvelope:
    email = doc["requester"]["email"]
    return RawEnvelope(source="zendesk", body=orjson.dumps(doc).decode(),
                       received_at=received.timestamp(), origin="replay",
                       key=f"email:{email}", path="/webhooks/zendesk")


class TestR6Csat:
    """A bad rating syncs the score, tracks low_csat_received and enters recovery."""

    def test_r6_csat_low_score_tracks_event_and_enters_recovery(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r6.eve@example.com"
        send_zendesk(worker, zendesk_ticket(7601, "open", minutes_ago(30), email))
        rated = zendesk_ticket(7601, "solved", minutes_ago(5), email)
        rated["satisfaction"] = {"score": "bad"}
        send_zendesk(worker, rated)
        low = eventually(lambda: events_of(fakes, email, "low_csat_received"), "low CSAT event")
        assert low[0]["data"]["score"] == "bad"
        # R1 (support_state, suppression priority: sent first) and R6 (the score) are two
        # identify calls: wait for both rather than assert between them.
        attrs = eventually(
            lambda: (a := attributes_of(fakes, email)).get("support_state") == "recovery"
            and "last_csat_score" in a and a,
            "recovery state and the CSAT score",
        )
        assert attrs["last_csat_score"] == "bad" and isinstance(attrs["last_csat_at"], int)


class TestR14IntercomToCustomerio:
    """New Intercom contacts become Customer.io people, nurtured once; closes resolve."""

    def test_r14_contact_nurtured_once_and_conversation_close_resolves(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r14.fay@example.com"
        send_intercom(worker, "contact.lead.created",
                      contact(email, "ic-r14-fay", role="lead", name="Fay"))
        send_intercom(worker, "contact.lead.updated",
                      contact(email, "ic-r14-fay", role="lead", name="Fay B"))
        eventually(lambda: attributes_of(fakes, email).get("name") == "Fay B", "person")
        assert attributes_of(fakes, email)["intercom_contact_id"] == "ic-r14-fay"
        conversation = {"type": "conversation", "id": "conv-r14", "state": "open",
                        "created_at": int(time.time()) - 600, "updated_at": int(time.time()) - 600,
                        "contacts": {"contacts": [{"id": "ic-r14-fay", "email": email}]}}
        send_intercom(worker, "conversation.user.created", conversation)
        send_intercom(worker, "conversation.admin.closed",
                      {**conversation, "state": "closed", "updated_at": int(time.time())})
        resolved = eventually(lambda: events_of(fakes, email, "support_resolved"), "resolved")
        assert resolved[0]["data"]["conversation_id"] == "conv-r14"
        assert len(events_of(fakes, email, "intercom_contact_created")) == 1


class TestR15UnsubscribeSync:
    """Unsubscribes cross platforms both ways; our own write echoed back ends there."""

    def test_r15_unsubscribe_both_ways_and_echo_causes_no_loop(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email, other = "r15.gus@example.com", "r15.hal@example.com"
        send_intercom(worker, "contact.user.created", contact(email, "ic-r15-gus"))
        eventually(lambda: attributes_of(fakes, email).get("intercom_contact_id"), "known")
        send_customerio(worker, cio_metric("unsubscribed", email))
        found = eventually(
            lambda: (c := intercom_contact(fakes, email))
            and c.get("unsubscribed_from_emails") is True and c,
            "Intercom unsubscribed",
        )
        writes = len(fakes.intercom.requests_to("PUT", f"/contacts/{found['id']}"))
        # Intercom tells us about the change we made: nothing goes back to Intercom.
        send_intercom(worker, "contact.user.updated",
                      contact(email, "ic-r15-gus", unsubscribed_from_emails=True))
        settle(3)
        assert len(fakes.intercom.requests_to("PUT", f"/contacts/{found['id']}")) == writes
        send_intercom(worker, "contact.user.created",
                      contact(other, "ic-r15-hal", unsubscribed_from_emails=True))
        eventually(lambda: attributes_of(fakes, other).get("unsubscribed") is True,
                   "Customer.io unsubscribed")

    def test_r15_intercom_contact_created_after_the_unsubscribe_is_unsubscribed(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        email = "r15.ida@example.com"
        send_customerio(worker, cio_metric("unsubscribed", email))
        eventually(lambda: state_of(worker.admin_port, email) is not None,
                   "Customer.io's unsubscribe applied")  # the customer's only event
        # Intercom's webhook says what Intercom holds: not unsubscribed (yet).
        send_intercom(worker, "contact.user.created",
                      contact(email, "ic-r15-ida", unsubscribed_from_emails=False))
        eventually(
            lambda: (c := intercom_contact(fakes, email))
            and c.get("unsubscribed_from_emails") is True,
            "the unsubscribe on the contact Intercom created afterwards",
        )


class TestR17AdAudiences:
    """Suppression audience membership follows the state, never without ads consent."""

    def test_r17_audiences_follow_state_only_with_ads_consent(
        self, worker: WorkerProcess, fakes: Platforms
    ) -> None:
        consenting, refusing = "r17.ivy@example.com", "r17.jon@example.com"
        send_customerio(worker, cio_action("subscribed", consenting, channel="ads"))  # opt-in
        send_customerio(worker, cio_action("unsubscribed", refusing, channel="ads"))
        time.sleep(1)
        for ticket, email in ((7701, consenting), (7702, refusing)):
            send_zendesk(worker, zendesk_ticket(ticket, "open", minutes_ago(5), email))
        mine = hashlib.sha256(consenting.encode()).hexdigest()
        theirs = hashlib.sha256(refusing.encode()).hexdigest()

        def members(operation: str) -> list[str]:
            return [m for call in fakes.collector.audiences if call["operation"] == operation
                    and call["audience"] == "suppress_promos" for m in call["members"]]

        eventually(lambda: mine in members("add"), "suppress_promos add")
        eventually(lambda: attributes_of(fakes, refusing).get("has_open_ticket"), "refuser open")
        settle()
        assert theirs not in members("add")
        assert all(call["schema"] == "EMAIL_SHA256" for call in fakes.collector.audiences)
        assert consenting not in str(fakes.collector.audiences)  # hashed, never plain
