"""The active state version, kept in the `<prefix>control` topic (SPEC S7 "switching
versions is explicit").

Why a topic and not a file in the data dir: every worker of a scaled-out deployment reads
the same answer wherever it runs, and the answer lives and dies with the broker's data (an
embedded in-memory broker forgets its versions and this record together). The topic has
one partition and `cleanup.policy=compact`; the last record per key wins:

    active_version   {"version": "v2", "previous": "v1", "at": 1763800000.0}
    replay/<name>    {"from": ..., "to": ..., "finished_at": ..., "replayed": n}

`supportsync run` reads `active_version` at start (`resolve`); an explicit
`SUPPORTSYNC_STATE_VERSION` in the environment overrides it. `switch` (`supportsync version
use NAME`) first copies the old version's delivered action ids into the new version's
`delivered` table changelog and commits, for the new version's group, the out-topic
offsets the old group had reached (Apache Kafka accepts this for a group without members;
Tansu refuses it for a group that ever had members, see `offsets`: then the new version's
sinks read the out topics from the beginning and skip every delivered id), so nothing is
delivered twice; then it writes the record. Stop the old worker first: what it delivers
after the copy could be delivered again by the new version.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import orjson

from app.replay import offsets
from app.settings import Settings
from streams.runtime import kafka
from streams.runtime.broker import ensure_topics
from streams.runtime.faust_app import topic_names
from streams.runtime.kafka import NewTopic, TopicPartition

log = logging.getLogger(__name__)

ACTIVE_KEY = "active_version"


class VersionError(Exception):
    """A version switch that is refused (the message says why)."""


def control_topic(settings: Settings) -> str:
    return settings.topic("control")


def group_id(settings: Settings, version: str) -> str:
    return f"{settings.app_id}-{version}"


async def ensure_control(bootstrap: str, settings: Settings) -> None:
    admin = kafka.admin(bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        name = control_topic(settings)
        if name not in set(await admin.list_topics()):
            topic = NewTopic(
                name, 1, kafka.replication_factor(),
                topic_configs={"cleanup.policy": "compact"},
            )
            await admin.create_topics([topic])
    finally:
        await admin.close()


async def read_control(bootstrap: str, settings: Settings) -> dict[str, dict[str, Any]]:
    """Every key of the control topic with its last value."""
    await ensure_control(bootstrap, settings)
    tp = TopicPartition(control_topic(settings), 0)
    c = offsets.consumer(bootstrap)
    await c.start()
    try:
        end = (await offsets.true_end_offsets(c, [tp]))[tp]
        c.assign([tp])
        c.seek(tp, 0)
        latest: dict[str, dict[str, Any]] = {}
        position = 0
        while position < end:
            got = await c.getmany(tp, timeout_ms=1000)
            records = got.get(tp, [])
            if not records:
                break
            for record in records:
                position = record.offset + 1
                if record.key is not None and record.value is not None:
                    latest[record.key.decode()] = orjson.loads(record.value)
        return latest
    finally:
        await c.stop()


async def write_control(
    bootstrap: str, settings: Settings, key: str, value: dict[str, Any]
) -> None:
    await ensure_control(bootstrap, settings)
    producer = kafka.producer(bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            control_topic(settings), key=key.encode(), value=orjson.dumps(value), partition=0
        )
    finally:
        await producer.stop()


async def active_version(bootstrap: str, settings: Settings) -> str:
    record = (await read_control(bootstrap, settings)).get(ACTIVE_KEY)
    return str(record["version"]) if record else settings.state_version


async def _carry_sink_offsets(bootstrap: str, settings: Settings, old: str, new: str) -> bool:
    names = topic_names(settings)
    out_topics = [name for logical, name in names.items() if logical.startswith("out.")]
    reader = offsets.consumer(bootstrap, group_id(settings, old))
    await reader.start()
    try:
        tps = await offsets.partitions_of(reader, out_topics)
        reached = await offsets.committed(reader, tps)
        ends = await offsets.true_end_offsets(reader, tps)
        carried = {tp: (at if at is not None else ends[tp]) for tp, at in reached.items()}
    finally:
        await reader.stop()
    return await offsets.try_commit(bootstrap, group_id(settings, new), carried)


async def _copy_delivered(bootstrap: str, settings: Settings, old: str, new: str) -> int:
    """Copy the old version's delivered ids (its `delivered` table changelog, partition by
    partition) into the new version's, so its sinks skip what was already delivered even
    when they read the out topics from the beginning."""
    source = f"{group_id(settings, old)}-delivered-changelog"
    target = f"{group_id(settings, new)}-delivered-changelog"
    admin = kafka.admin(bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        if source not in existing:
            return 0
        if target not in existing:
            config = {"cleanup.policy": "compact"}
            topic = NewTopic(
                target, settings.partitions, kafka.replication_factor(),
                topic_configs=config,
            )
            await admin.create_topics([topic])
    finally:
        await admin.close()
    c = offsets.consumer(bootstrap)
    producer = kafka.producer(bootstrap, acks="all", linger_ms=5)
    await c.start()
    await producer.start()
    try:
        tps = await offsets.partitions_of(c, [source])
        ends = await offsets.true_end_offsets(c, tps)
        left = {tp for tp in tps if ends[tp] > 0}
        c.assign(tps)
        for tp in tps:
            c.seek(tp, 0)
        found: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
        empty = 0
        while left and empty < 5:  # an empty fetch is not the end: Tansu may answer late
            got = await c.getmany(*left, timeout_ms=1000)
            empty = 0 if any(got.values()) else empty + 1
            for tp, records in got.items():
                for r in records:
                    if r.offset < ends[tp]:
                        found.setdefault(tp.partition, []).append((r.key, r.value))
                    if r.offset + 1 >= ends[tp]:
                        left.discard(tp)
        for partition, items in found.items():
            # The last record of a partition goes alone: Tansu reports the end offset as the
            # base offset of the last batch + 1, and Faust's recovery reads up to it.
            acks = [
                await producer.send(target, key=k, value=v, partition=partition)
                for k, v in items[:-1]
            ]
            await asyncio.gather(*acks)
            key, value = items[-1]
            await producer.send_and_wait(target, key=key, value=value, partition=partition)
        return sum(len(items) for items in found.values())
    finally:
        await producer.stop()
        await c.stop()


async def switch(
    bootstrap: str, settings: Settings, name: str, *, force: bool = False
) -> tuple[str, int]:
    """Make `name` the active version; returns the previous one and the ids copied."""
    control = await read_control(bootstrap, settings)
    record = control.get(ACTIVE_KEY)
    old = str(record["version"]) if record else settings.state_version
    if name == old:
        return old, 0
    replay = control.get(f"replay/{name}")
    if not force and (replay is None or not replay.get("finished_at")):
        raise VersionError(
            f"version {name!r} has no finished replay; run `supportsync replay --version {name}`"
            " first (or pass --force)"
        )
    if not force and replay is not None and replay.get("to") is not None:
        raise VersionError(f"version {name!r} was replayed only up to --to; pass --force")
    copied = await _copy_delivered(bootstrap, settings, old, name)
    carried = await _carry_sink_offsets(bootstrap, settings, old, name)
    await write_control(
        bootstrap, settings, ACTIVE_KEY, {"version": name, "previous": old, "at": time.time()}
    )
    log.info(
        "active version %s -> %s: %d delivered ids copied, sink offsets %s", old, name, copied,
        "carried over" if carried else "not accepted by the broker (delivered ids dedupe)",
    )
    return old, copied


def resolve(settings: Settings, bootstrap: str) -> Settings:
    """The settings `supportsync run` should use: the control topic's active version unless
    SUPPORTSYNC_STATE_VERSION is set explicitly. Creates the version's topics."""
    if os.environ.get("SUPPORTSYNC_STATE_VERSION"):
        return settings
    version = asyncio.run(active_version(bootstrap, settings))
    if version == settings.state_version:
        return settings
    resolved = settings.model_copy(update={"state_version": version})
    asyncio.run(ensure_topics(bootstrap, topic_names(resolved).values(), resolved.partitions))
    log.info("state version %s (from %s)", version, control_topic(settings))
    return resolved
