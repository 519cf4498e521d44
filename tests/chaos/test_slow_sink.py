"""A dead platform (SPEC S10): Customer.io answering 503 does not stall the state machine or
the other sinks; its backlog is visible as lag and drains when it recovers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.fakes.webhook import FakeWebhookReceiver
from connectors.testing.threaded import serve_in_thread
from streams.runtime.broker import EmbeddedBroker
from tests.chaos import scenario
from tests.integration.support import CIO_KEY, CIO_SITE, state_of, wait_for, worker_env

OUTAGE_CUSTOMERS = 300


def _customer_keys(received: dict[str, Any]) -> set[str]:
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("customer_key"), str):
                keys.add(node["customer_key"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(list(received.values()))
    return keys


class TestDeadSink:
    """Customer.io down: states and the webhook sink go on; the backlog drains afterwards."""

    def test_outage_then_recovery(self, history: scenario.Scenario) -> None:
        emails = set(history.emails[:OUTAGE_CUSTOMERS])
        part = [e for e in history.envelopes if e.key.removeprefix("email:") in emails]
        sub = scenario.Scenario(seed=history.seed, customers=OUTAGE_CUSTOMERS, envelopes=part,
                                emails=[e for e in history.emails if e in emails],
                                last_ticket=history.last_ticket,
                                unsubscribed=history.unsubscribed & emails)
        with EmbeddedBroker() as broker, serve_in_thread(
            FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)
        ) as cio, serve_in_thread(FakeWebhookReceiver(secret="hook")) as hook:
            cio.faults.add(status=503, times=None)  # down until cleared
            env = {
                **worker_env(cio.track_url),
                "SUPPORTSYNC_SINKS": "customerio,webhook",
                "SUPPORTSYNC_WEBHOOK_SINK_URL": hook.url,
                "SUPPORTSYNC_WEBHOOK_SINK_SECRET": "hook",
                "SUPPORTSYNC_SINK_RETRY_DEADLINE_S": "3600",  # wait it out, no dead letters
            }
            with WorkerProcess(broker.bootstrap_servers, env=env) as worker:
                worker.wait_healthy(timeout=90)
                asyncio.run(scenario.produce(broker.bootstrap_servers, worker.prefix, part))
                # The state machine finishes every customer while Customer.io is down...
                states = scenario.wait_settled(
                    sub, lambda e: state_of(worker.admin_port, e), limit_s=180
                )
                assert len(states) == OUTAGE_CUSTOMERS
                # ...and the webhook sink delivers every customer's state changes.
                wait_for(lambda: len(_customer_keys(hook.received)) >= OUTAGE_CUSTOMERS,
                         timeout=120, what="webhook deliveries for every customer")
                assert not any(r.status == 200 for r in cio.requests), "Customer.io was down"
                # The Customer.io backlog shows in the metrics as the age of what it works on.
                lag = wait_for(
                    lambda: scenario.metric(
                        worker.admin_port, 'supportsync_sink_backlog_age_seconds{sink="customerio"}'
                    ) > 5 and scenario.metric(
                        worker.admin_port, 'supportsync_sink_backlog_age_seconds{sink="customerio"}'
                    ),
                    timeout=30, what="backlog age on the Customer.io sink",
                )
                webhook_age = scenario.metric(
                    worker.admin_port, 'supportsync_sink_backlog_age_seconds{sink="webhook"}'
                )
                assert webhook_age < lag, "only the dead sink falls behind"
                outage_requests = len(cio.requests)
                cio.faults.clear()
                started = time.monotonic()
                wait_for(
                    lambda: all(
                        cio.people.get(e) is not None
                        and cio.people[e].attributes.get("has_open_ticket") is False
                        for e in emails
                    ),
                    timeout=180, what="the Customer.io backlog to drain",
                )
                print(f"\nCustomer.io outage: {outage_requests} failed requests; backlog of "
                      f"{OUTAGE_CUSTOMERS} customers drained {time.monotonic() - started:.1f}s "
                      f"after recovery; backlog age seen {lag:.0f}s")
        hook.assert_no_violations()
