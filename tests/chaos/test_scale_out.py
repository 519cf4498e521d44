"""Scale-out (SPEC S10): two workers share partitions; killing one hands its partitions and
state to the other; a worker joining again loses nothing."""

from __future__ import annotations

import asyncio
import time
import urllib.error
from typing import Any

from app.broker import EmbeddedBroker, free_port
from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from streams.records import RawEnvelope
from tests.chaos import scenario
from tests.chaos.conftest import Outcome
from tests.integration.support import CIO_KEY, CIO_SITE, minutes_ago, trigger_body, worker_env


def _state_anywhere(workers: list[WorkerProcess], email: str) -> dict[str, Any]:
    """The state from whichever worker owns the customer's partition."""
    for worker in workers:
        try:
            return scenario.essence(scenario.state_of(worker.port, email))
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
    raise AssertionError(f"no worker holds the state of {email}")


class TestScaleOut:
    """The survivor of two workers finishes the history with the clean run's outcome."""

    def test_kill_one_of_two_then_rejoin(
        self, history: scenario.Scenario, clean: Outcome
    ) -> None:
        with EmbeddedBroker() as broker, serve_in_thread(
            FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)
        ) as cio:
            env = {**worker_env(cio.track_url), "SUPPORTSYNC_CUSTOMERIO_RATE_PER_S": "5000"}
            first = WorkerProcess(broker.bootstrap_servers, env=env).start()
            group = {"prefix": first.prefix, "app_id": first.app_id}
            second = WorkerProcess(broker.bootstrap_servers, env=env, port=free_port(),
                                   data_dir=first.data_dir / "second", **group).start()
            workers = [first, second]
            try:
                first.wait_healthy(timeout=120)
                second.wait_healthy(timeout=120)
                asyncio.run(scenario.produce(broker.bootstrap_servers, first.prefix,
                                             history.envelopes))
                time.sleep(3)
                second.kill()  # mid-history
                workers = [first]
                scenario.wait_quiet(cio, quiet_s=15)
                states = {e: _state_anywhere(workers, e) for e in history.emails}
                differing = [e for e in history.emails if states[e] != clean.states[e]]
                assert not differing, f"{len(differing)} customers differ, e.g. {differing[:3]}"
                got = scenario.deliveries(cio)
                assert got.one_offs == clean.deliveries.one_offs
                assert got.attributes == clean.deliveries.attributes

                # A worker joins again: the rebalance moves partitions and their state.
                third = WorkerProcess(broker.bootstrap_servers, env=env, port=free_port(),
                                      data_dir=first.data_dir / "third", **group).start()
                workers = [first, third]
                third.wait_healthy(timeout=120)
                time.sleep(8)  # let the group settle on its new assignment
                reopened = history.emails[:200]
                asyncio.run(scenario.produce(broker.bootstrap_servers, first.prefix, [
                    RawEnvelope(source="zendesk", key=f"email:{e}", received_at=time.time(),
                                body=trigger_body("900001", "Open", minutes_ago(1), e).decode())
                    for e in reopened
                ]))
                scenario.wait_quiet(cio, quiet_s=10)
                for email in reopened:
                    state = _state_anywhere(workers, email)
                    before = clean.states[email]
                    # Old tickets kept (state moved intact), the new one added and open.
                    ids = {t[0] for t in state["tickets"]}
                    assert {t[0] for t in before["tickets"]} <= ids
                    assert state["attributes"]["has_open_ticket"] is True
            finally:
                for worker in (first, second, *workers):
                    worker.stop()
