"""The raw record frame: bodies kept verbatim and unescaped, shared defaults written once."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ingress.batcher import BrokerUnavailable, EnvelopeTooLarge, RawBatcher
from app.settings import ConfigError, load_settings
from contracts.records import (
    RawEnvelope,
    decode_raw_batch,
    encode_raw_batch,
    envelope_record,
    raw_envelope_from,
)
from streams.runtime.normalizers import body_with_defaults


def _envelope(body: bytes, key: str = "email:a@example.com", **extra: Any) -> RawEnvelope:
    return RawEnvelope(source="pipelines", body=body, received_at=1.5, key=key, **extra)


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_envelopes = st.builds(
    RawEnvelope,
    source=st.sampled_from(["zendesk", "intercom", "customerio", "pipelines"]),
    body=st.binary(max_size=64),
    defaults=st.sampled_from([b"", b'{"context":{"ip":"1.2.3.4"}}', b'{"integrations":{}}']),
    headers=st.dictionaries(_text, _text, max_size=3),
    received_at=st.floats(0, 4e9),
    origin=st.sampled_from(["live", "backfill", "replay"]),
    key=_text,
    path=_text,
)


class TestFrameRoundTrip:
    """Any envelopes come back equal, from a record and from a dead letter's copy."""

    @settings(max_examples=150, deadline=None)
    @given(st.lists(_envelopes, max_size=6))
    def test_record(self, envelopes: list[RawEnvelope]) -> None:
        assert decode_raw_batch(encode_raw_batch(envelopes)) == envelopes

    @settings(max_examples=150, deadline=None)
    @given(_envelopes)
    def test_dead_letter_record(self, envelope: RawEnvelope) -> None:
        record = orjson.loads(orjson.dumps(envelope_record(envelope)))
        assert raw_envelope_from(record) == envelope


class TestFrame:
    """Envelope size does not grow with escaping or with a batch's shared context."""

    def test_round_trip_any_bytes(self) -> None:
        envelopes = [
            _envelope(b'{"a":"\\"quoted\\""}', headers={"X-Message-Id": "m1"}),
            _envelope(b"\xff\xfe not utf-8", origin="backfill", path="/webhooks/zendesk"),
            _envelope(b"{}", defaults=b'{"context":{"ip":"1.2.3.4"}}'),
        ]
        assert decode_raw_batch(encode_raw_batch(envelopes)) == envelopes

    def test_quote_heavy_body_is_not_escaped(self) -> None:
        body = orjson.dumps({"text": '"' * 400_000})  # 800 KB of escaped quotes
        record = encode_raw_batch([_envelope(body)])
        assert len(record) < len(body) + 200  # the first JSON form took 2x

    def test_shared_defaults_written_once(self) -> None:
        defaults = orjson.dumps({"context": {"blob": "x" * 30_000}})
        envelopes = [_envelope(orjson.dumps({"n": i}), defaults=defaults) for i in range(60)]
        record = encode_raw_batch(envelopes)
        assert len(record) < 30_000 + 60 * 200  # 1.9 MB when copied into every message
        decoded = decode_raw_batch(record)
        assert all(e.defaults == defaults for e in decoded)
        assert orjson.loads(body_with_defaults(decoded[3])) == {
            "context": {"blob": "x" * 30_000}, "n": 3
        }

    def test_first_json_form_still_decodes(self) -> None:
        old = orjson.dumps({"v": 1, "envelopes": [{
            "source": "zendesk", "body": '{"a": "é"}', "headers": {}, "received_at": 2.0,
            "origin": "live", "key": "email:b@example.com", "path": "/webhooks/zendesk",
        }]})
        [envelope] = decode_raw_batch(old)
        assert envelope.body == '{"a": "é"}'.encode() and envelope.defaults == b""

    def test_dead_letter_record_round_trips(self) -> None:
        for envelope in (_envelope(b'{"ok":1}'), _envelope(b"\xff", defaults=b"{}")):
            doc = orjson.loads(orjson.dumps(envelope_record(envelope)))
            assert raw_envelope_from(doc) == envelope
        big = envelope_record(_envelope(b"x" * 200_000))
        assert "body" not in big and big["body_omitted"]["bytes"] == 200_000


class _Producer:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    async def send_and_wait(self, topic: str, *, value: bytes, key: bytes, partition: int) -> None:
        self.values.append(value)


class TestBatcherRecordSize:
    """Records never exceed the limit; an envelope that cannot fit alone is refused up front."""

    def test_batch_split_to_fit(self) -> None:
        producer = _Producer()
        limit = 64 * 1024
        batcher = RawBatcher(producer, lambda s: "raw", 4, linger_s=0.005,  # type: ignore[arg-type]
                             max_record_bytes=limit)
        envelopes = [_envelope(b"y" * 9_000, key="email:same@example.com") for _ in range(30)]

        async def run() -> None:
            await asyncio.gather(*(batcher.submit(e) for e in envelopes))

        asyncio.run(run())
        assert len(producer.values) > 1
        assert all(len(v) + 128 + 22 <= limit for v in producer.values)
        assert sum(len(decode_raw_batch(v)) for v in producer.values) == 30

    def test_envelope_too_large(self) -> None:
        batcher = RawBatcher(_Producer(), lambda s: "raw", 4,  # type: ignore[arg-type]
                             max_record_bytes=64 * 1024)
        with pytest.raises(EnvelopeTooLarge):
            asyncio.run(batcher.submit(_envelope(b"z" * 64 * 1024)))


class TestBodyCapFitsRecords:
    """A body cap that could not fit in a record is a configuration error naming both."""

    def test_cap_over_record_limit(self) -> None:
        with pytest.raises(ConfigError, match="SUPPORTSYNC_MAX_BODY_BYTES.*KAFKA_MAX_REQUEST"):
            load_settings(max_body_bytes=1024 * 1024)

    def test_raising_both_is_fine(self) -> None:
        settings = load_settings(max_body_bytes=1024 * 1024, kafka_max_request_bytes=2 << 20)
        assert settings.max_body_bytes == 1024 * 1024


class _SlowProducer:
    """Acknowledges a record only when the test releases it."""

    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.release = asyncio.Event()

    async def send_and_wait(self, topic: str, *, value: bytes, key: bytes, partition: int) -> None:
        self.values.append(value)
        await self.release.wait()


class TestBatcherFillsWhileInFlight:
    """While a partition's record travels, the next one fills past the linger, then goes."""

    def test_envelopes_behind_a_record_in_flight_share_one_record(self) -> None:
        producer = _SlowProducer()
        batcher = RawBatcher(producer, lambda s: "raw", 1, linger_s=0.001)  # type: ignore[arg-type]

        async def run() -> None:
            first = asyncio.ensure_future(batcher.submit(_envelope(b'{"n":0}')))
            await asyncio.sleep(0.02)  # lingered and sent; its acknowledgement is held back
            later = [asyncio.ensure_future(batcher.submit(_envelope(f'{{"n":{i}}}'.encode())))
                     for i in range(1, 6)]
            await asyncio.sleep(0.02)  # well past the linger: still waiting for the ack
            assert len(producer.values) == 1
            producer.release.set()
            await asyncio.wait_for(asyncio.gather(first, *later), 5)

        asyncio.run(run())
        assert [len(decode_raw_batch(v)) for v in producer.values] == [1, 5]

    def test_a_busy_partition_writes_at_most_one_record_per_interval(self) -> None:
        producer = _Producer()
        batcher = RawBatcher(producer, lambda s: "raw", 1, linger_s=0.001,  # type: ignore[arg-type]
                             min_interval_s=0.2, behind=lambda: True)

        async def run() -> float:
            loop = asyncio.get_running_loop()
            await batcher.submit(_envelope(b'{"n":0}'))  # a trickle: out after the linger
            started = loop.time()
            await asyncio.gather(*(batcher.submit(_envelope(f'{{"n":{i}}}'.encode()))
                                   for i in range(1, 4)))
            return loop.time() - started

        waited = asyncio.run(run())
        assert [len(decode_raw_batch(v)) for v in producer.values] == [1, 3]
        assert waited >= 0.15  # held for the rest of the interval, not just the linger

    def test_no_interval_while_the_pipeline_keeps_up(self) -> None:
        producer = _Producer()
        batcher = RawBatcher(producer, lambda s: "raw", 1, linger_s=0.001,  # type: ignore[arg-type]
                             min_interval_s=5.0, behind=lambda: False)

        async def run() -> None:
            for i in range(3):  # each answered after the linger, not after the interval
                await asyncio.wait_for(batcher.submit(_envelope(f'{{"n":{i}}}'.encode())), 1)

        asyncio.run(run())
        assert [len(decode_raw_batch(v)) for v in producer.values] == [1, 1, 1]


class TestBatcherAnswers:
    """Every caller of a record gets an answer, whatever happens to the other callers."""

    def test_no_acknowledgement_in_time_is_broker_unavailable(self) -> None:
        producer = _SlowProducer()  # never acknowledges
        batcher = RawBatcher(producer, lambda s: "raw", 1, linger_s=0.001,  # type: ignore[arg-type]
                             ack_timeout_s=0.1)

        async def run() -> list[BaseException | None]:
            return await asyncio.wait_for(asyncio.gather(
                *(batcher.submit(_envelope(f'{{"n":{i}}}'.encode())) for i in range(3)),
                return_exceptions=True,
            ), 5)

        answers = asyncio.run(run())
        assert all(isinstance(a, BrokerUnavailable) for a in answers), answers

    def test_a_caller_that_goes_away_leaves_the_others_answered(self) -> None:
        producer = _SlowProducer()
        batcher = RawBatcher(producer, lambda s: "raw", 1, linger_s=0.001)  # type: ignore[arg-type]

        async def run() -> None:
            gone = asyncio.ensure_future(batcher.submit(_envelope(b'{"n":0}')))
            stays = asyncio.ensure_future(batcher.submit(_envelope(b'{"n":1}')))
            await asyncio.sleep(0.02)  # both in the record that is on its way
            gone.cancel()  # its client disconnected
            producer.release.set()
            await asyncio.wait_for(stays, 5)

        asyncio.run(run())
        assert [len(decode_raw_batch(v)) for v in producer.values] == [2]
