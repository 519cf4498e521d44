"""`supportsync dlq list|show|redrive` against the real broker's dlq topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from app.cli import main
from app.settings import load_settings
from connectors.delivery.dlq import DeadLetter
from contracts.actions import Action
from contracts.deadletters import StageDeadLetter
from contracts.partitioner import partition_for
from contracts.records import RawEnvelope, decode_json_batch, decode_raw_batch, envelope_record
from streams.runtime.broker import EmbeddedBroker, ensure_topics
from streams.runtime.faust_app import topic_names

pytestmark = pytest.mark.broker
PARTITIONS = 4

ACTION = Action(
    action_id="customerio:identify:abc", sink="customerio", operation="identify",
    customer_key="c:0123456789abcdef", person="dlq@example.com",
    payload={"attributes": {"has_open_ticket": True}}, priority="suppression",
)
ENVELOPE = RawEnvelope(
    source="zendesk", body='{"not": "a ticket"}', received_at=1.0, key="email:dlq@example.com"
)
LETTERS: list[tuple[str, bytes]] = [
    ("customerio", DeadLetter(
        reason="client_error", sink="customerio", action=ACTION, error_class="ClientError",
        status=422, response_body='{"errors": ["bad"]}', attempts=1,
    ).to_json()),
    ("normalize", StageDeadLetter(
        stage="normalize", reason="malformed_payload", source="zendesk", detail="KeyError",
        record=envelope_record(ENVELOPE),
    ).to_json()),
    ("identity", StageDeadLetter(
        stage="identity", reason="identity_conflict", source="intercom", detail="two accounts",
        record={"event": {"event_id": "x"}},
    ).to_json()),
]


async def _produce(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in LETTERS:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def _read(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[tuple[int, bytes, bytes]] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                found += [(tp.partition, r.key or b"", r.value or b"") for r in records]
        return found
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
def env(broker: EmbeddedBroker) -> Iterator[dict[str, str]]:
    values = {
        "SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "SUPPORTSYNC_TOPIC_PREFIX": f"dlq{uuid.uuid4().hex[:8]}.",
        "SUPPORTSYNC_PARTITIONS": str(PARTITIONS),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in values.items():
            mp.setenv(name, value)
        names = topic_names(load_settings())
        asyncio.run(ensure_topics(broker.bootstrap_servers, names.values(), PARTITIONS))
        asyncio.run(_produce(broker.bootstrap_servers, names["dlq"]))
        yield values


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


class TestList:
    """Listing reads every dead letter; filters by source, sink and reason."""

    def test_all(self, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
        code, out = _run(capsys, "dlq", "list", "--json")
        assert code == 0
        rows = [orjson.loads(line) for line in out.splitlines()]
        assert {(r["stage"], r["reason"]) for r in rows} == {
            ("sink:customerio", "client_error"),
            ("normalize", "malformed_payload"),
            ("identity", "identity_conflict"),
        }

    @pytest.mark.parametrize(
        ("flag", "value", "stage"),
        [
            ("--sink", "customerio", "sink:customerio"),
            ("--source", "intercom", "identity"),
            ("--reason", "malformed_payload", "normalize"),
        ],
    )
    def test_filters(
        self, env: dict[str, str], capsys: pytest.CaptureFixture[str],
        flag: str, value: str, stage: str,
    ) -> None:
        code, out = _run(capsys, "dlq", "list", "--json", flag, value)
        assert code == 0
        assert [orjson.loads(line)["stage"] for line in out.splitlines()] == [stage]

    def test_table(self, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
        code, out = _run(capsys, "dlq", "list")
        assert code == 0 and "3 dead letter(s)" in out and "client_error" in out


class TestShow:
    """Show prints the whole record, by id or filter."""

    def test_show_by_id(self, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
        _, listed = _run(capsys, "dlq", "list", "--json", "--sink", "customerio")
        entry_id = orjson.loads(listed)["id"]
        code, out = _run(capsys, "dlq", "show", entry_id)
        doc = orjson.loads(out)
        assert code == 0 and doc["id"] == entry_id
        assert doc["record"]["status"] == 422
        assert doc["record"]["action"]["action_id"] == ACTION.action_id


class TestRedrive:
    """Actions go back to out.<sink>, raw envelopes to raw.<source>; others are skipped."""

    def test_needs_a_filter(self, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
        assert _run(capsys, "dlq", "redrive")[0] == 2

    def test_dry_run_sends_nothing(
        self, env: dict[str, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        names = topic_names(load_settings())
        bootstrap = env["SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS"]
        before = asyncio.run(_read(bootstrap, names["out.customerio"]))
        code, out = _run(capsys, "dlq", "redrive", "--all", "--dry-run")
        assert code == 0 and "would redrive 2, skipped 1" in out
        assert asyncio.run(_read(bootstrap, names["out.customerio"])) == before

    def test_redrive(self, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
        code, out = _run(capsys, "dlq", "redrive", "--all")
        assert code == 0 and "redriven 2, skipped 1" in out
        assert "carry no raw envelope" in out
        names = topic_names(load_settings())
        bootstrap = env["SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS"]

        [(partition, key, value)] = asyncio.run(_read(bootstrap, names["out.customerio"]))
        assert partition == partition_for(ACTION.customer_key, PARTITIONS)
        assert key == ACTION.customer_key.encode()
        assert [Action.from_dict(a) for a in decode_json_batch(value)] == [ACTION]

        [(partition, key, value)] = asyncio.run(_read(bootstrap, names["raw.zendesk"]))
        assert partition == partition_for(ENVELOPE.key, PARTITIONS)
        assert decode_raw_batch(value) == [ENVELOPE]
