"""`BatchingSink`: the `send_batch` hook for platforms with batch endpoints (SPEC S6).

A subclass says which actions may share a request (`batch_key`, None: never batched) and
sends a list of them with `send_batch(actions) -> per-item errors` (None where the item
succeeded). `deliver()` then:

1. takes every person whose actions in the batch are all batchable with one key and
   coalesce into a single request (a burst of identifies for many people); any other
   person keeps the per-person ordered path of `Sink.deliver`, so an identify never
   overtakes an event of the same person;
2. groups those requests by key, and when at least `min_batch` share a key, cuts them into
   chunks (`chunk()`: by count, subclasses add a size limit) and sends each chunk as one
   request: one token, retries with backoff for the whole chunk (batch writes are
   idempotent attribute sets), per-item client errors to the dlq, the rest marked
   delivered together;
3. hands everything else to `Sink.deliver` unchanged.

Backpressure works as in `Sink.deliver`: chunks not yet sent and the unbatched actions are
returned in `SinkBackpressureError.remaining`. Dry-run (outbox) bypasses batching.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from abc import abstractmethod
from collections import OrderedDict
from typing import ClassVar

from connectors.delivery.coalesce import Planned
from connectors.delivery.errors import DeliveryError, SinkBackpressureError
from connectors.delivery.retry import call_with_retry
from connectors.delivery.sink import DeliveryReport, Sink, _Attempts
from contracts.actions import Action

log = logging.getLogger(__name__)

BatchResult = list[DeliveryError | None]


def _add_reports(into: DeliveryReport, other: DeliveryReport) -> DeliveryReport:
    for f in dataclasses.fields(DeliveryReport):
        if f.type in ("int", int):
            setattr(into, f.name, getattr(into, f.name) + getattr(other, f.name))
    into.outcomes.extend(other.outcomes)
    return into


class BatchingSink(Sink):
    max_batch: ClassVar[int] = 100
    min_batch: ClassVar[int] = 2

    def batch_key(self, action: Action) -> str | None:
        """Actions with the same key may share one request; None: send alone."""
        return None

    @abstractmethod
    async def send_batch(self, actions: list[Action]) -> BatchResult:
        """Send the actions in one request; one entry per action (None: delivered)."""

    def chunk(self, actions: list[Action]) -> list[list[Action]]:
        size = max(1, self.max_batch)
        return [actions[i : i + size] for i in range(0, len(actions), size)]

    # -- deliver ---------------------------------------------------------------------------

    async def deliver(self, actions: list[Action]) -> DeliveryReport:
        if self.outbox is not None:
            return await super().deliver(actions)
        report = DeliveryReport()
        batched, rest = await self._split(actions, report)
        halted: list[SinkBackpressureError] = []
        left: list[Planned] = []
        slots = asyncio.Semaphore(self.concurrency)

        async def run(chunk: list[Planned]) -> None:
            async with slots:
                if halted:
                    left.extend(chunk)
                    return
                try:
                    await self._deliver_chunk(chunk, report)
                except SinkBackpressureError as exc:
                    halted.append(exc)
                    left.extend(chunk)

        try:
            async with asyncio.TaskGroup() as group:
                for chunk in batched:
                    group.create_task(run(chunk))
        except ExceptionGroup as failure:
            raise failure.exceptions[0] from failure
        if halted:
            left_ids = {i for p in left for i in p.covered}
            remaining = [a for a in actions if a.action_id in left_ids] + rest
            error = SinkBackpressureError(
                max(e.retry_after or 0.0 for e in halted), remaining=remaining
            )
            error.report = report
            raise error
        if not rest:
            return report
        try:
            other = await super().deliver(rest)
        except SinkBackpressureError as exc:
            if exc.report is not None:
                exc.report = _add_reports(report, exc.report)
            raise
        return _add_reports(report, other)

    async def _split(
        self, actions: list[Action], report: DeliveryReport
    ) -> tuple[list[list[Planned]], list[Action]]:
        """(chunks of batchable single-request people, actions for the per-person path)."""
        people: OrderedDict[tuple[str, str], list[Action]] = OrderedDict()
        for action in actions:
            people.setdefault((action.sink, action.person), []).append(action)
        by_key: OrderedDict[str, list[Planned]] = OrderedDict()
        rest: list[Action] = []
        for group in people.values():
            keys = {self.batch_key(a) if a.sink == self.name else None for a in group}
            key = keys.pop() if len(keys) == 1 else None
            planned = self.coalescer.coalesce(group) if key is not None else []
            if key is None or len(planned) != 1:
                rest.extend(group)
                continue
            by_key.setdefault(key, []).append(planned[0])
        chunks: list[list[Planned]] = []
        for members in by_key.values():
            if len(members) < self.min_batch:
                ids = {i for p in members for i in p.covered}
                rest.extend(a for a in actions if a.action_id in ids)
                continue
            items: list[Planned] = []
            for p in members:
                covered = [i for i in dict.fromkeys(p.covered) if not await self.store.contains(i)]
                report.skipped += len(p.covered) - len(covered)
                report.coalesced += len(covered) - 1 if covered else 0
                if covered:
                    items.append(Planned(p.action, covered))
            index = {p.action.action_id: p for p in items}
            for part in self.chunk([p.action for p in items]):
                chunks.append([index[a.action_id] for a in part])
        return chunks, rest

    async def _deliver_chunk(self, chunk: list[Planned], report: DeliveryReport) -> None:
        epoch = self.last_written.epoch if self.last_written is not None else 0
        items: list[tuple[Planned, dict[str, object] | None]] = []
        for p in chunk:
            reduced = await self._only_changes(p, report)
            if reduced is not None:
                action, attributes = reduced
                items.append((Planned(action, p.covered), attributes))
        if not items:
            return
        sendable = [p.action for p, _ in items]
        priority = min(sendable, key=lambda a: a.priority_rank).priority
        operation = f"{sendable[0].operation}_batch"
        attempts = _Attempts()

        async def attempt() -> BatchResult:
            paused = self.bucket.paused_for()
            if paused > self.backpressure_after:
                raise SinkBackpressureError(paused)
            await self.bucket.acquire(priority)
            now = self._wall()
            attempts.count += 1
            attempts.first = attempts.first or now
            attempts.last = now
            report.requests += 1
            started = self.clock.monotonic()
            outcome = "ok"
            try:
                result = await self.send_batch(sendable)
            except Exception as exc:
                outcome = type(exc).__name__
                raise
            finally:
                self.observer.request(
                    self.name, operation, outcome, self.clock.monotonic() - started
                )
            if len(result) != len(sendable):
                raise RuntimeError(f"send_batch returned {len(result)} results for {len(sendable)}")
            return result

        def on_retry(_attempt: int, error: DeliveryError, _delay: float) -> None:
            report.retries += 1
            self.observer.retry(self.name, operation, error)

        try:
            results = await call_with_retry(
                attempt, self.policy, clock=self.clock, on_retry=on_retry, rng=self.rng
            )
        except SinkBackpressureError:
            raise
        except Exception as exc:
            if not isinstance(exc, DeliveryError):
                log.exception("sink %s: unexpected error in %s", self.name, operation)
            for p, _ in items:
                await self._dead_letter(exc, p, attempts, report)
            return
        for (p, attributes), error in zip(items, results, strict=True):
            if error is not None:
                await self._dead_letter(error, p, attempts, report)
                continue
            if self.last_written is not None and attributes is not None:
                self.last_written.remember(p.action.sink, p.action.person, attributes, epoch)
            await self._mark_delivered(p, report)
