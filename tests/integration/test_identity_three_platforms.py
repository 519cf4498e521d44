"""One person seen by Zendesk, Intercom and Customer.io ends as one support state."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from app.testing import WorkerProcess
from connectors.customerio.webhook import sign as cio_sign
from connectors.intercom.webhook import sign as intercom_sign
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import (
    minutes_ago,
    post,
    state_of,
    trigger_body,
    wait_for,
    worker_env,
    zendesk_headers,
)

pytestmark = pytest.mark.broker

INTERCOM_SECRET, CIO_KEY = "intercom-secret", "cio-signing-key"
EMAIL = "tri.platform@example.com"


def _cio(worker: WorkerProcess, doc: dict[str, Any]) -> None:
    body = orjson.dumps(doc)
    stamp = str(int(time.time()))
    status, answer = post(worker.url("/webhooks/customerio"), body, {
        "Content-Type": "application/json", "X-CIO-Timestamp": stamp,
        "X-CIO-Signature": cio_sign(CIO_KEY, stamp, body)})
    assert status == 200, answer


class TestThreePlatforms:
    """Zendesk requester, Intercom contact and Customer.io person merge into one customer."""

    def test_one_state(self, broker: EmbeddedBroker) -> None:
        env = {**worker_env("http://127.0.0.1:9"), "SUPPORTSYNC_SINKS": "",
               "SUPPORTSYNC_INTERCOM_CLIENT_SECRET": INTERCOM_SECRET,
               "SUPPORTSYNC_CUSTOMERIO_WEBHOOK_SIGNING_KEY": CIO_KEY}
        with WorkerProcess(broker.bootstrap_servers, env=env) as worker:
            worker.wait_healthy(timeout=60)
            # Zendesk: a ticket from the requester (email)
            body = trigger_body("7001", "Open", minutes_ago(30), EMAIL)
            assert post(worker.url("/webhooks/zendesk"), body, zendesk_headers(body))[0] == 200
            # Intercom: the same person as a contact (contact id + email)
            note = orjson.dumps({
                "type": "notification_event", "id": "notif_tri_1",
                "topic": "contact.user.created", "created_at": int(time.time()) - 600,
                "data": {"item": {"type": "contact", "id": "ic_tri_1", "role": "user",
                                  "email": EMAIL}},
            })
            status, answer = post(worker.url("/webhooks/intercom"), note, {
                "Content-Type": "application/json",
                "X-Hub-Signature": intercom_sign(INTERCOM_SECRET, note)})
            assert status == 200, answer
            # Customer.io: first only by cio_id (a customer of its own) ...
            _cio(worker, {"event_id": "cio_tri_1", "object_type": "email", "metric": "opened",
                          "timestamp": int(time.time()) - 300,
                          "data": {"identifiers": {"cio_id": "cio_tri_1"}}})
            # ... then with the email too: the two customers merge into one
            _cio(worker, {"event_id": "cio_tri_2", "object_type": "email", "metric": "clicked",
                          "timestamp": int(time.time()) - 200,
                          "data": {"identifiers": {"cio_id": "cio_tri_1", "email": EMAIL}}})

            def both_resolve_to_one() -> dict[str, Any] | None:
                by_email = state_of(worker.admin_port, EMAIL)
                by_cio = state_of(worker.admin_port, quote("cio_id:cio_tri_1", safe=":"))
                by_intercom = state_of(worker.admin_port, "intercom_contact_id:ic_tri_1")
                docs = [by_email, by_cio, by_intercom]
                if any(d is None for d in docs):
                    return None
                keys = {d["customer_key"] for d in docs if d is not None}
                merged = by_email is not None and "cio_id" in by_email["identities"]
                return by_email if len(keys) == 1 and merged else None

            doc = wait_for(both_resolve_to_one, timeout=60,
                           what="email, cio_id and Intercom contact id on one customer")
            assert {t["id"] for t in doc["tickets"]} == {"7001"}
            identities = doc["identities"]
            assert identities["email"] == EMAIL
            assert identities["intercom_contact_id"] == "ic_tri_1"
            assert identities["cio_id"] == "cio_tri_1"
            assert doc["support_state"] == "open"
