"""Run a replay: plan offsets, run a worker of the new version, stop once caught up.

1. `plan`: the raw partitions' end offsets are captured (Tansu-corrected, see `offsets`);
   the start offsets for `--from` are committed for the new version's consumer group
   (by time when the broker answers truthfully, else from the beginning with the pipeline
   skipping envelopes received before `--from`). A group that already has offsets (an
   interrupted replay) resumes from them. With `--to`, the stop offsets come from the time
   lookup when trusted; otherwise the replay runs to the captured end and skips envelopes
   received after `--to`.
2. A Faust worker of the new version (consumer group and tables `<app_id>-<version>`,
   `events.by-customer.<version>`, no sinks) runs `ReplayPipeline`. Its actions go to the
   shared out topics, where the live version's sinks deliver them (attribute updates only
   when they differ from what was last delivered; the recipes hold back one-offs of events
   older than the horizon, SUPPORTSYNC_REPLAY_ONE_OFF_HORIZON_S).
3. `ReplayMonitor` prints progress every second from the group's committed offsets; when
   every raw partition has reached its stop offset and the apply stage has caught up with
   what ingest produced, it stops the worker (SIGTERM path: offsets committed) and the
   replay is recorded as finished in the control topic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from app.config import load_config
from app.replay import offsets, versions
from app.replay.pipeline import ReplayPipeline, ReplaySettings, ReplayWindow, replay_horizon
from app.replay.progress import Progress
from app.settings import Settings
from streams.recipes import RecipeRouter
from streams.runtime import metrics
from streams.runtime.broker import ensure_topics
from streams.runtime.faust_app import build_app, topic_names
from streams.runtime.kafka import Service, TopicPartition, run_worker
from streams.runtime.normalizers import envelope_normalizer

log = logging.getLogger(__name__)


@dataclass
class ReplayPlan:
    group: str
    start: offsets.Offsets
    stop: offsets.Offsets
    scanning: bool  # the broker could not seek by time: filter by received_at
    resumed: bool = False
    events_topic: str = ""
    events_stop: offsets.Offsets = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(max(self.stop[tp] - self.start[tp], 0) for tp in self.stop)

    def done(self, reached: dict[TopicPartition, int | None]) -> int:
        return sum(
            max(min(reached.get(tp) or self.start[tp], self.stop[tp]) - self.start[tp], 0)
            for tp in self.stop
        )

    def caught_up(self, reached: dict[TopicPartition, int | None]) -> bool:
        return all((reached.get(tp) or self.start[tp]) >= end for tp, end in self.stop.items())


def raw_topics(settings: Settings) -> list[str]:
    return [name for logical, name in topic_names(settings).items() if logical.startswith("raw.")]


async def plan(bootstrap: str, settings: Settings, window: ReplayWindow) -> ReplayPlan:
    group = versions.group_id(settings, settings.state_version)
    c = offsets.consumer(bootstrap, group)
    await c.start()
    try:
        tps = await offsets.partitions_of(c, raw_topics(settings))
        stop = await offsets.true_end_offsets(c, tps)
        if window.stop is not None:
            until = await offsets.offsets_for_time(c, tps, window.stop + 0.001)
            if until is not None:
                stop = {tp: min(stop[tp], until[tp]) for tp in tps}
        reached = await offsets.committed(c, tps)
        if all(at is not None for at in reached.values()):
            start = {tp: int(at or 0) for tp, at in reached.items()}
            return ReplayPlan(group, start, stop, scanning=True, resumed=True)
        found = None
        if window.start is not None:
            found = await offsets.offsets_for_time(c, tps, window.start)
        start = found if found is not None else await c.beginning_offsets(tps)
        await offsets.commit(c, start)
        return ReplayPlan(group, dict(start), stop, scanning=found is None)
    finally:
        await c.stop()


class ReplayMonitor(Service):
    """Progress on stderr; stops the worker once the replay has caught up."""

    def __init__(
        self, bootstrap: str, plan: ReplayPlan, pipeline: ReplayPipeline, progress: Progress,
        version: str = "", **kw: object,
    ) -> None:
        self.version = version
        self.bootstrap = bootstrap
        self.plan = plan
        self.pipeline = pipeline
        self.progress = progress
        self.finished = False
        super().__init__(**kw)  # type: ignore[arg-type]

    @Service.task
    async def _watch(self) -> None:
        c = offsets.consumer(self.bootstrap, self.plan.group)
        await c.start()
        try:
            raw = list(self.plan.stop)
            events: list[TopicPartition] | None = None
            while not self.should_stop:
                reached = await offsets.committed(c, raw)
                done = self.plan.done(reached)
                self.progress.update(self.pipeline.replayed, done, self.plan.total)
                metrics.REPLAY_PROGRESS.labels(self.version, "done").set(done)
                metrics.REPLAY_PROGRESS.labels(self.version, "total").set(self.plan.total)
                if self.plan.caught_up(reached):
                    if events is None:  # ingest is done: wait for apply to catch up
                        events = await offsets.partitions_of(c, [self.plan.events_topic])
                        self.plan.events_stop = await offsets.true_end_offsets(c, events)
                    applied = await offsets.committed(c, events)
                    if all((applied[tp] or 0) >= end for tp, end in self.plan.events_stop.items()):
                        self.finished = True
                        self.progress.finish("caught up")
                        os.kill(os.getpid(), signal.SIGTERM)  # the worker's graceful stop
                        return
                await asyncio.sleep(1.0)
        finally:
            await c.stop()


def serve_metrics(host: str, port: int) -> int | None:
    """Serve this process's /metrics (replay progress) on `port` (0: not at all) in a thread;
    the port actually bound, or None. A port in use is a warning, not a failed replay."""
    if port == 0:
        return None
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host, registry=metrics.REGISTRY)
    except OSError as exc:
        log.warning("replay metrics not served on %s:%s: %s", host, port, exc)
        return None
    bound: int = server.server_address[1]
    log.info("replay metrics on http://%s:%s/metrics", host, bound)
    return bound


def run_replay(settings: Settings, bootstrap: str, version: str, window: ReplayWindow) -> int:
    live = asyncio.run(versions.active_version(bootstrap, settings))
    if version == live:
        print(f"supportsync: {version} is the live version; replay into a new one",
              file=sys.stderr)
        return 2
    rs = settings.model_copy(update={"state_version": version, "sinks": ""})
    asyncio.run(ensure_topics(bootstrap, topic_names(rs).values(), rs.partitions))
    the_plan = asyncio.run(plan(bootstrap, rs, window))
    the_plan.events_topic = topic_names(rs)["events.by-customer"]
    log.info(
        "replay %s: %d raw records to go (%s)", version, the_plan.total,
        "resuming" if the_plan.resumed else ("scan" if the_plan.scanning else "by time"),
    )
    topology = build_app(rs, bootstrap)
    topology.app.conf.broker_commit_interval = 1.0
    config = load_config()  # the same recipes and windows as `supportsync run`
    router = RecipeRouter(
        config.recipes, identifier=rs.customerio_identifier, horizon=replay_horizon(),
        # What the live version routes to, as far as these settings tell (the same
        # credentials); without any, every destination: no sink runs here, and the live
        # version's sinks take what they deliver.
        sinks=frozenset(settings.destination_names) or None,
    )
    pipeline = ReplayPipeline(
        topology,
        window=window,
        history_before=time.time(),
        state_config=config.state_config(),
        router=router,
        sink_names=(),
        partitions=rs.partitions,
        clock=time.time,
        normalize=envelope_normalizer(
            zendesk_reason=config.sources.zendesk.reason_rule(),
            intercom_reason=config.sources.intercom.reason_rule(),
        ),
    )
    serve_metrics(rs.web_host, ReplaySettings().metrics_port)
    monitor = ReplayMonitor(
        bootstrap, the_plan, pipeline, Progress(f"replay {version}"), version=version
    )
    topology.app.service(monitor)  # type: ignore[arg-type]
    run_worker(topology.app, loglevel="WARNING")
    if not monitor.finished:
        print(f"supportsync: replay {version} interrupted; run it again to resume",
              file=sys.stderr)
        return 1
    record = {
        "from": window.start, "to": window.stop, "finished_at": time.time(),
        "replayed": pipeline.replayed, "skipped": pipeline.skipped,
    }
    asyncio.run(versions.write_control(bootstrap, rs, f"replay/{version}", record))
    print(
        f"supportsync: replay {version} finished: {pipeline.replayed} records replayed, "
        f"{pipeline.skipped} outside the window; switch with "
        f"`supportsync version use {version}`"
    )
    return 0
