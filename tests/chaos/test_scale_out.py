"""Scale-out (SPEC S10): two workers share partitions; killing one hands its partitions and
state to the other; a worker joining again loses nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from contracts.records import RawEnvelope
from streams.runtime.broker import EmbeddedBroker, free_port
from tests.chaos import scenario
from tests.chaos.conftest import Outcome
from tests.integration.support import (
    CIO_KEY,
    CIO_SITE,
    minutes_ago,
    state_of,
    trigger_body,
    wait_for,
    worker_env,
)


def _state_anywhere(workers: list[WorkerProcess], email: str) -> dict[str, Any] | None:
    """The state from whichever worker owns the customer's partition (None: nobody yet)."""
    for worker in workers:
        doc = state_of(worker.admin_port, email)
        if doc is not None:
            return doc
    return None


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
                states = scenario.wait_settled(history, lambda e: _state_anywhere(workers, e))
                scenario.wait_quiet(cio)
                differing = [e for e in history.emails if states[e] != clean.states[e]]
                assert not differing, scenario.describe_difference(
                    differing, clean.states, states
                )
                got = scenario.deliveries(cio)
                assert got.one_offs == clean.deliveries.one_offs
                problem = scenario.attribute_difference(clean.deliveries, got)
                assert problem is None, problem

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
                for email in reopened:
                    # Processed by whichever worker owns the customer after the rebalance.
                    state = wait_for(
                        lambda e=email: (d := _state_anywhere(workers, e)) is not None
                        and (s := scenario.essence(d))["attributes"]["has_open_ticket"] and s,
                        timeout=120, what=f"the reopened ticket of {email}",
                    )
                    # Old tickets kept: the state moved intact with its partition.
                    ids = {t[0] for t in state["tickets"]}
                    assert {t[0] for t in clean.states[email]["tickets"]} | {"900001"} == ids
            finally:
                for worker in (first, second, *workers):
                    worker.stop()
            first.remove_data_dir()  # the other workers' directories are inside it
