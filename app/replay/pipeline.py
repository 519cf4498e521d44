"""The replay worker's pipeline (SPEC S7).

`ReplayPipeline` is the worker pipeline with two changes at the raw end and one at the
out end:
- every raw envelope it consumes is rewritten to `origin=replay` before ingest, so the
  routing recipes know the events are history: one-off actions of events older than the
  horizon are recorded but not produced (the guard lives in one place, `streams.recipes.
  base.Emit`; the replay worker only chooses the horizon, see `replay_horizon`);
- envelopes outside the `--from`/`--to` window (by `received_at`) are skipped: the
  fallback when the broker cannot seek by time (Tansu, see `app.replay.offsets`);
- actions caused by records received before the replay started lose `received_at`, so
  replayed history does not count against the end-to-end latency SLO histogram.
Attribute updates pass: their action ids cover the payload (`streams.recipes.base`), so
identical writes are skipped as delivered while writes changed by a new mapping reach the
live sinks, whose LastWrittenCache sends only the fields that differ from what was last
delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.records import decode_raw_batch, encode_raw_batch
from streams.runtime import metrics
from streams.runtime.agents import Pipeline
from streams.runtime.faust_app import Topology
from streams.stages import ApplyResult


class ReplaySettings(BaseSettings):
    """`SUPPORTSYNC_REPLAY_*`: kept apart from the worker's Settings."""

    model_config = SettingsConfigDict(env_prefix="SUPPORTSYNC_REPLAY_", extra="ignore")

    #: one-off actions of replayed events older than this are recorded, not sent
    one_off_horizon_s: float = Field(default=86400.0, ge=0)
    #: the replay process serves /metrics here while it runs (replay progress for
    #: Prometheus); 0 serves nothing
    metrics_port: int = Field(default=6067, ge=0, le=65535)


def replay_horizon() -> timedelta:
    return timedelta(seconds=ReplaySettings().one_off_horizon_s)


@dataclass(frozen=True)
class ReplayWindow:
    start: float | None = None  # unix seconds, inclusive
    stop: float | None = None  # unix seconds, inclusive

    def contains(self, ts: float) -> bool:
        return (self.start is None or ts >= self.start) and (self.stop is None or ts <= self.stop)


class ReplayPipeline(Pipeline):
    def __init__(
        self, topology: Topology, *, window: ReplayWindow, history_before: float, **kw: Any
    ) -> None:
        # Set before Pipeline.__init__, which registers the agents.
        self.window = window
        self.history_before = history_before
        self.replayed = 0  # envelopes re-ingested
        self.skipped = 0  # envelopes outside the window
        super().__init__(topology, **kw)

    async def _ingest(self, partition: int, value: bytes) -> list[Any]:
        envelopes = decode_raw_batch(value)
        kept = [
            e.replace(origin="replay")
            for e in envelopes
            if self.window.contains(e.received_at)
        ]
        self.skipped += len(envelopes) - len(kept)
        if not kept:
            self.processed_records += 1
            return []
        effects = await super()._ingest(partition, encode_raw_batch(kept))
        self.replayed += len(kept)
        metrics.REPLAY_RECORDS.inc(len(kept))
        return effects

    async def _emit(self, partition: int, result: ApplyResult) -> list[Any]:
        cutoff = self.history_before
        result.actions = [
            a.replace(received_at=None)
            if a.received_at is not None and a.received_at.timestamp() < cutoff
            else a
            for a in result.actions
        ]
        return await super()._emit(partition, result)
