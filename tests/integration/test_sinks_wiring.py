"""`build_sinks` wiring: every destination starts, dry-run when unconfigured, live otherwise."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from app.settings import Settings
from app.sinks import make_sinks, window_bucket
from app.testing import WorkerProcess
from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.sink import DeliveryObserver
from contracts.actions import Action
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import wait_for

ALL = "customerio,zendesk,intercom,webhook,warehouse,audiences"


async def _sinks(settings: Settings) -> dict[str, bool]:
    async with aiohttp.ClientSession() as session:
        sinks = make_sinks(
            settings, session, store=InMemoryDeliveredStore(),
            dead_letters=InMemoryDeadLetterWriter(), observer=DeliveryObserver(),
        )
        return {name: sink.dry_run for name, sink in sinks.items()}


class TestMakeSinks:
    """Unconfigured sinks run dry; credentials turn them live."""

    def test_all_dry_run_without_credentials(self, tmp_path: Path) -> None:
        settings = Settings(sinks=ALL, data_dir=tmp_path)
        assert asyncio.run(_sinks(settings)) == dict.fromkeys(ALL.split(","), True)

    def test_live_with_credentials(self, tmp_path: Path) -> None:
        settings = Settings(
            sinks=ALL, data_dir=tmp_path, customerio_site_id="s", customerio_api_key="k",
            zendesk_subdomain="acme", zendesk_email="a@b.c", zendesk_api_token="t",
            intercom_access_token="t", webhook_sink_url="http://127.0.0.1:9/h",
            webhook_sink_secret="x", warehouse_dsn="postgresql://postgres@127.0.0.1/test",
            audiences_url="http://127.0.0.1:9/a", customerio_region="eu",
        )
        assert asyncio.run(_sinks(settings)) == dict.fromkeys(ALL.split(","), False)
        assert settings.customerio_track_base == "https://track-eu.customer.io"

    def test_window_bucket_never_exceeds_limit(self) -> None:
        bucket = window_bucket("x", 700, 60.0)
        assert bucket.burst + bucket.rate * 60.0 <= 700


@pytest.mark.broker
class TestWorkerStartsEverySink:
    """A worker with every sink configured dry-run delivers out.* actions to its outbox."""

    def test_dry_run_outbox(self, broker: EmbeddedBroker) -> None:
        # One ingress source: a worker that would answer every webhook 404 is not healthy.
        env = {"SUPPORTSYNC_SINKS": ALL, "SUPPORTSYNC_PIPELINES_WRITE_KEY": "wiring-write-key-0"}
        with WorkerProcess(broker.bootstrap_servers, env=env) as proc:
            proc.wait_healthy(timeout=60)
            action = Action.for_transition(
                "tr-1", sink="webhook", operation="support_state_changed", customer_key="ck1",
                person="ck1", one_off=True, payload={"transition_id": "tr-1"},
            )

            async def produce() -> None:
                producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
                await producer.start()
                try:
                    value = orjson.dumps({"v": 1, "items": [action.to_dict()]})
                    await producer.send_and_wait(f"{proc.prefix}out.webhook", value, key=b"ck1")
                finally:
                    await producer.stop()

            asyncio.run(produce())
            outbox = proc.data_dir / "outbox" / "webhook.jsonl"
            wait_for(outbox.exists, timeout=30, what="the webhook outbox")
            line = json.loads(outbox.read_text().splitlines()[0])
            assert line["action_id"] == action.action_id
