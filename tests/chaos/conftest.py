"""Fixtures shared by the chaos scenarios: the seeded history and its clean run."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.status.deadletters import read_all
from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from streams.runtime.broker import EmbeddedBroker
from tests.chaos import scenario
from tests.integration.support import CIO_KEY, CIO_SITE, state_of, worker_env

CUSTOMERS = int(os.environ.get("CHAOS_CUSTOMERS", "2000"))
KILLS = int(os.environ.get("CHAOS_KILLS", "5"))
_DELIVERY_METRICS = ("supportsync_consumer_lag", "supportsync_sink_backlog_age_seconds",
                     "supportsync_sink_deliveries_total", "supportsync_sink_requests_total")


@pytest.fixture(scope="session")
def seed() -> int:
    value = int(os.environ.get("CHAOS_SEED", str(random.SystemRandom().randrange(1 << 30))))
    print(f"\nCHAOS_SEED={value}")
    return value


@pytest.fixture(scope="session")
def history(seed: int) -> scenario.Scenario:
    built = scenario.build(seed, CUSTOMERS)
    assert len(built.envelopes) >= 20_000 or CUSTOMERS < 2000
    return built


@dataclass
class Outcome:
    states: dict[str, dict[str, Any]]
    deliveries: scenario.Deliveries
    kills: int = 0
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: dead letters at the end of the run (a one-off missing from the platform may be here)
    dead_letters: list[Any] = field(default_factory=list)
    #: the last worker's delivery metrics at the end of the run (for failure messages)
    metrics: list[str] = field(default_factory=list)


def run_history(history: scenario.Scenario, *, kills: int, rng: random.Random) -> Outcome:
    with EmbeddedBroker() as broker, serve_in_thread(
        FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)
    ) as cio:
        env = {**worker_env(cio.track_url), "SUPPORTSYNC_CUSTOMERIO_RATE_PER_S": "5000"}
        worker = first = WorkerProcess(broker.bootstrap_servers, env=env).start()
        identity = {"prefix": worker.prefix, "app_id": worker.app_id,
                    "data_dir": worker.data_dir, "port": worker.port}
        try:
            worker.wait_healthy(timeout=90)
            asyncio.run(scenario.produce(broker.bootstrap_servers, worker.prefix,
                                         history.envelopes))
            done = 0
            while done < kills:
                time.sleep(rng.uniform(1.0, 6.0))  # somewhere inside the processing
                worker.kill()
                done += 1
                worker = WorkerProcess(broker.bootstrap_servers, env=env, **identity).start()
                worker.wait_healthy(timeout=120)
            port = worker.admin_port
            states = scenario.wait_settled(history, lambda e: state_of(port, e))
            docs = {e: scenario.RAW_DOCS[e] for e in history.emails}
            scenario.wait_quiet(cio)
            final_metrics = scenario.metric_lines(port, _DELIVERY_METRICS)
            letters = asyncio.run(read_all(broker.bootstrap_servers, f"{worker.prefix}dlq"))
        finally:
            worker.stop()
        first.remove_data_dir()  # kept, with the workers' logs, when the run failed
        return Outcome(states=states, deliveries=scenario.deliveries(cio), kills=kills,
                       docs=docs, dead_letters=letters, metrics=final_metrics)


@pytest.fixture(scope="session")
def clean(history: scenario.Scenario) -> Iterator[Outcome]:
    yield run_history(history, kills=0, rng=random.Random(0))


