"""Replay throughput against the live pipeline's, same broker, same run (SPEC S7, S10).

1. A live worker (sinks off: the pipeline stops at out.*) processes N raw envelopes
   written straight to `raw.zendesk` in records of 100 (as the ingress batches them);
   live rate = N / time until its group has committed the raw end and the apply stage has
   caught up.
2. `supportsync replay --from 0 --version bench2` reprocesses the same N envelopes into a
   new state version; replay rate = N / wall time of the command (start-up included: group
   join ~5 s on Tansu) and the rate its own progress line reports (from its start).
N stays at 10k so each phase stays under a minute on a loaded 2-core machine; Tansu
degrades past ~140k records fetched (STACK-NOTES).

    python -m bench.replay_bench
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import TopicPartition

from app.backfill.writer import RawWriter
from app.replay import offsets
from app.testing import WorkerProcess
from bench import ROUTE_EVERYWHERE
from contracts.records import RawEnvelope
from streams.runtime.broker import EmbeddedBroker, ensure_topics

Row = tuple[str, str, str]
N = 10_000
PARTITIONS = 4


def _envelopes(n: int) -> list[RawEnvelope]:
    now = time.time()
    out = []
    for i in range(n):
        email = f"bench{i % 5000}@example.com"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600 + i * 0.01))
        body = {
            "supportsync": "zendesk-trigger/v1",
            "event_id": f"bench-{i}",
            "ticket": {"id": str(10_000 + i // 3), "status": "open" if i % 3 else "solved",
                       "priority": "normal", "tags": "", "created_at": stamp, "updated_at": stamp},
            "requester": {"id": "", "email": email},
        }
        out.append(RawEnvelope(source="zendesk", body=orjson.dumps(body).decode(),
                               received_at=now, key=f"email:{email}"))
    return out


async def _produce(bootstrap: str, topic: str, envelopes: list[RawEnvelope]) -> None:
    await ensure_topics(bootstrap, [topic], PARTITIONS)
    async with RawWriter(bootstrap, topic, PARTITIONS) as writer:
        for i in range(0, len(envelopes), 100):
            await writer.write(envelopes[i : i + 100])


async def _caught_up(bootstrap: str, group: str, topics: list[str], within: float) -> bool:
    c = offsets.consumer(bootstrap, group)
    await c.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            ends = await offsets.true_end_offsets(c, tps)
            done = await offsets.committed(c, tps)
            if all((done[tp] or 0) >= ends[tp] for tp in tps):
                return True
            await asyncio.sleep(0.25)
        return False
    finally:
        await c.stop()


def run() -> list[Row]:
    tag = uuid.uuid4().hex[:8]
    prefix, app_id = f"rb{tag}.", f"supportsync-{tag}"
    data = Path(f"/tmp/supportsync-replay-bench-{tag}")
    envelopes = _envelopes(N)
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        env = {"SUPPORTSYNC_SINKS": "", "SUPPORTSYNC_PARTITIONS": str(PARTITIONS),
               **ROUTE_EVERYWHERE}  # routing as in production; no sink runs
        with WorkerProcess(bootstrap, env=env, prefix=prefix, app_id=app_id,
                           data_dir=data / "live") as live:
            live.wait_healthy(timeout=90)
            started = time.monotonic()
            asyncio.run(_produce(bootstrap, f"{prefix}raw.zendesk", envelopes))
            topics = [f"{prefix}raw.zendesk", f"{prefix}events.by-customer.v1"]
            ok = asyncio.run(_caught_up(bootstrap, f"{app_id}-v1", topics, 120.0))
            live_s = time.monotonic() - started
        cmd_env = {
            **os.environ, "SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "SUPPORTSYNC_TOPIC_PREFIX": prefix, "SUPPORTSYNC_APP_ID": app_id,
            "SUPPORTSYNC_DATA_DIR": str(data / "replay"), "SUPPORTSYNC_PARTITIONS": str(PARTITIONS),
            **ROUTE_EVERYWHERE,
        }
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "replay", "--from", "0", "--version", "bench2"],
            env=cmd_env, capture_output=True, text=True, timeout=300, check=False,
        )
        replay_s = time.monotonic() - started
    rates = re.findall(r"([\d,]+)/s", done.stderr)
    reported = rates[-1].replace(",", "") if rates else "?"
    replayed = re.search(r"(\d+) records replayed", done.stdout)
    count = int(replayed.group(1)) if replayed else 0
    live_rate = N / live_s
    replay_rate = count / replay_s if count else 0.0
    return [
        ("live pipeline", f"{live_rate:,.0f}/s", f"{N} envelopes, 100 per record; caught up={ok}"),
        ("replay (wall)", f"{replay_rate:,.0f}/s",
         f"{count} in {replay_s:.1f}s incl. start-up/group join; exit {done.returncode}"),
        ("replay (progress)", f"{reported}/s", "the replay's own progress line (from its start)"),
        ("replay / live", f"{replay_rate / live_rate:.2f}x" if live_rate else "?", "wall rates"),
    ]


if __name__ == "__main__":
    for name, value, note in run():
        print(f"{name:<20} {value:>12}  {note}")
