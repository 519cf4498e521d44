"""The sink base class: delivers one batch of actions with every S6 guarantee.

`Sink.deliver(actions)`:
1. skips actions whose id is already in the DeliveredStore (or repeated in the batch) and
   dead-letters actions routed to the wrong sink;
2. coalesces attribute updates (`AttributeCoalescer`) and, with a `LastWrittenCache`,
   drops fields (or whole writes) that would change nothing — except in an action whose
   payload says `platform_checked: true`: its recipe compared the values with what the
   platform itself last reported (a two-way sync), which outranks what we last wrote
   (someone may have changed it there since);
3. per person, in order, and for different persons concurrently (up to `concurrency`):
   takes a token from the account's bucket by priority and calls the subclass's
   `send(action)` under `call_with_retry`; every attempt takes its own token;
4. on success marks every covered action id delivered; on a non-retriable error, a spent
   deadline or a connector bug writes a DeadLetter with full context and carries on: a
   failure never drops an action silently and never blocks the partition;
5. if the platform asks for a pause longer than `backpressure_after`, in-flight requests
   finish and `SinkBackpressureError(retry_after, remaining=...)` is raised: the consumer
   pauses, then calls `deliver(remaining)`.

With an `Outbox` the sink is in dry-run mode: requests are written there, not sent.
Dead-lettered ids are not marked delivered, so `dlq redrive` can send them again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Literal

from connectors.delivery.clock import SYSTEM_CLOCK, Clock
from connectors.delivery.coalesce import AttributeCoalescer, LastWrittenCache, Planned
from connectors.delivery.dlq import DeadLetterWriter, Reason, dead_letter_from_error
from connectors.delivery.errors import DeliveryError, SinkBackpressureError
from connectors.delivery.idempotency import DeliveredStore
from connectors.delivery.outbox import Outbox
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy, call_with_retry
from contracts.actions import Action

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of one request's action: confirmed (an attribute update that would change
    nothing counts: nothing needed sending) or dead-lettered; `at` is the sink clock's time."""

    action: Action  # as sent: coalesced and reduced to the changed attributes
    outcome: Literal["delivered", "dead_lettered"]
    at: float
    covered: tuple[str, ...] = ()  # every action id the request stood for (coalescing)


@dataclass
class DeliveryReport:
    """Counts of action ids (not requests) except `requests` and `retries`; `outcomes`
    lists each request's action in the order their outcomes were known (what the stream
    layer records as "last sent" per customer and sink)."""

    delivered: int = 0
    skipped: int = 0  # already delivered earlier, or repeated within the batch
    unchanged: int = 0  # attribute writes equal to what we last wrote: not sent
    dead_lettered: int = 0
    coalesced: int = 0  # ids folded into another id's request (also in delivered/dlq)
    requests: int = 0  # attempts made (calls to send)
    retries: int = 0
    dry_run: bool = False
    outcomes: list[Outcome] = field(default_factory=list)


class DeliveryObserver:
    """Metric hooks (S8); the app subclasses this with prometheus counters/histograms."""

    def request(self, sink: str, operation: str, outcome: str, seconds: float) -> None:
        """One attempt finished; outcome is "ok" or the error class name."""

    def retry(self, sink: str, operation: str, error: DeliveryError) -> None:
        """An attempt failed and will be retried."""

    def dead_letter(self, sink: str, reason: str) -> None:
        """An action went to the dlq."""

    def delivered(self, sink: str, operation: str, priority: str, latency: float | None) -> None:
        """Confirmed delivery; latency from webhook receipt (None when unknown)."""


class _Attempts:
    def __init__(self) -> None:
        self.count = 0
        self.first: datetime | None = None
        self.last: datetime | None = None


class Sink(ABC):
    name: ClassVar[str]

    def __init__(
        self,
        *,
        bucket: TokenBucket,
        store: DeliveredStore,
        dead_letters: DeadLetterWriter,
        policy: RetryPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
        coalescer: AttributeCoalescer | None = None,
        last_written: LastWrittenCache | None = None,
        outbox: Outbox | None = None,
        concurrency: int = 8,
        backpressure_after: float = 5.0,
        observer: DeliveryObserver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        policy = policy or RetryPolicy()
        if policy.max_retry_after is None:
            policy = dataclasses.replace(policy, max_retry_after=backpressure_after)
        self.bucket = bucket
        self.store = store
        self.dead_letters = dead_letters
        self.policy = policy
        self.clock = clock
        self.coalescer = coalescer or AttributeCoalescer()
        self.last_written = last_written
        self.outbox = outbox
        self.concurrency = concurrency
        self.backpressure_after = backpressure_after
        self.observer = observer or DeliveryObserver()
        self.rng = rng or random.Random()

    @property
    def dry_run(self) -> bool:
        return self.outbox is not None

    @abstractmethod
    async def send(self, action: Action) -> None:
        """Deliver one action to the platform, raising a DeliveryError on failure."""

    # -- the batch -----------------------------------------------------------------------

    async def deliver(self, actions: list[Action]) -> DeliveryReport:
        report = DeliveryReport(dry_run=self.dry_run)
        fresh: list[Action] = []
        seen: set[str] = set()
        for action in actions:
            if action.action_id in seen or await self.store.contains(action.action_id):
                report.skipped += 1
                continue
            seen.add(action.action_id)
            if action.sink != self.name:
                await self._dead_letter(
                    DeliveryError(f"action for {action.sink} reached sink {self.name}"),
                    Planned(action, [action.action_id]),
                    _Attempts(),
                    report,
                    "misrouted",
                )
                continue
            fresh.append(action)
        planned = self.coalescer.coalesce(fresh)
        report.coalesced = len(fresh) - len(planned)

        if self.outbox is not None:
            # A dry-run sink's one request is the outbox write: timed and counted like an API
            # call, so dashboards show dry-run sinks working.
            started = self.clock.monotonic()
            await self.outbox.write([p.action for p in planned])
            if planned:
                self.observer.request(
                    self.name, "outbox_write", "ok", self.clock.monotonic() - started
                )
            for p in planned:
                await self._mark_delivered(p, report)
            return report

        # One lane per person keeps their order; lanes holding suppression start first.
        lanes: OrderedDict[tuple[str, str], list[Planned]] = OrderedDict()
        for p in planned:
            lanes.setdefault(p.person_key, []).append(p)
        ordered = sorted(lanes.values(), key=lambda lane: min(p.action.priority_rank for p in lane))

        slots = asyncio.Semaphore(self.concurrency)
        halted: list[SinkBackpressureError] = []
        left: list[Planned] = []

        async def run_lane(lane: list[Planned]) -> None:
            async with slots:
                for i, p in enumerate(lane):
                    if halted:
                        left.extend(lane[i:])
                        return
                    try:
                        await self._deliver_one(p, report)
                    except SinkBackpressureError as exc:
                        halted.append(exc)
                        left.extend(lane[i:])
                        return

        try:
            async with asyncio.TaskGroup() as group:
                for lane in ordered:
                    group.create_task(run_lane(lane))
        except ExceptionGroup as failure:
            # Only infrastructure failures get here (e.g. the delivered store cannot write):
            # surface the first one as itself so the worker stops without committing.
            raise failure.exceptions[0] from failure

        if halted:
            left_ids = {i for p in left for i in p.covered}
            remaining = [a for a in fresh if a.action_id in left_ids]
            retry_after = max(exc.retry_after or 0.0 for exc in halted)
            log.warning(
                "sink %s backpressure: pausing %.1fs with %d actions left",
                self.name,
                retry_after,
                len(remaining),
            )
            error = SinkBackpressureError(retry_after, remaining=remaining)
            error.report = report
            raise error
        return report

    # -- one request ---------------------------------------------------------------------

    async def _only_changes(
        self, planned: Planned, report: DeliveryReport
    ) -> tuple[Action, dict[str, object] | None] | None:
        """The action reduced to the attributes that would change on the platform (and those
        attributes, to remember after success); None when nothing would: the covered ids are
        then confirmed without a request (S7)."""
        action = planned.action
        if self.last_written is None or not action.is_attribute_update:
            return action, None
        if action.payload.get("platform_checked") is True:
            return action, action.attributes
        changed = self.last_written.changed(action.sink, action.person, action.attributes)
        if not changed:
            report.unchanged += len(planned.covered)
            await self._mark_ids(planned.covered)
            report.outcomes.append(
                Outcome(action, "delivered", self.clock.time(), tuple(planned.covered))
            )
            return None
        if len(changed) < len(action.attributes):
            action = action.with_attributes(changed)
        return action, changed

    async def _deliver_one(self, planned: Planned, report: DeliveryReport) -> None:
        epoch = self.last_written.epoch if self.last_written is not None else 0
        reduced = await self._only_changes(planned, report)
        if reduced is None:
            return
        action, attributes = reduced

        attempts = _Attempts()

        async def attempt() -> None:
            paused = self.bucket.paused_for()
            if paused > self.backpressure_after:
                raise SinkBackpressureError(paused)
            await self.bucket.acquire(action.priority)
            now = self._wall()
            attempts.count += 1
            attempts.first = attempts.first or now
            attempts.last = now
            report.requests += 1
            started = self.clock.monotonic()
            outcome = "ok"
            try:
                await self.send(action)
            except Exception as exc:
                outcome = type(exc).__name__
                raise
            finally:
                self.observer.request(
                    self.name, action.operation, outcome, self.clock.monotonic() - started
                )

        def on_retry(_attempt: int, error: DeliveryError, _delay: float) -> None:
            report.retries += 1
            self.observer.retry(self.name, action.operation, error)

        try:
            await call_with_retry(
                attempt, self.policy, clock=self.clock, on_retry=on_retry, rng=self.rng
            )
        except SinkBackpressureError:
            raise
        except DeliveryError as exc:
            await self._dead_letter(exc, Planned(action, planned.covered), attempts, report)
            return
        except Exception as exc:
            # A connector bug must not crash the worker or block the partition (S10).
            log.exception("sink %s: unexpected error on %s", self.name, action.action_id)
            await self._dead_letter(exc, Planned(action, planned.covered), attempts, report)
            return

        if self.last_written is not None and attributes is not None:
            self.last_written.remember(action.sink, action.person, attributes, epoch)
        await self._mark_delivered(Planned(action, planned.covered), report)

    async def _mark_ids(self, ids: list[str]) -> None:
        await self.store.add_many(ids)

    async def _mark_delivered(self, planned: Planned, report: DeliveryReport) -> None:
        await self._mark_ids(planned.covered)
        report.delivered += len(planned.covered)
        action = planned.action
        report.outcomes.append(
            Outcome(action, "delivered", self.clock.time(), tuple(planned.covered))
        )
        latency = (
            self.clock.time() - action.received_at.timestamp()
            if action.received_at is not None
            else None
        )
        self.observer.delivered(self.name, action.operation, action.priority, latency)

    async def _dead_letter(
        self,
        error: BaseException,
        planned: Planned,
        attempts: _Attempts,
        report: DeliveryReport,
        reason: Reason | None = None,
    ) -> None:
        letter = dead_letter_from_error(
            error,
            action=planned.action,
            covered=planned.covered,
            attempts=attempts.count,
            first_attempt_at=attempts.first,
            last_attempt_at=attempts.last,
            reason=reason,
        )
        await self.dead_letters.write(letter)
        report.dead_lettered += len(planned.covered)
        report.outcomes.append(
            Outcome(planned.action, "dead_lettered", self.clock.time(), tuple(planned.covered))
        )
        self.observer.dead_letter(self.name, letter.reason)
        log.warning(
            "sink %s: dead-lettered %s %s (%s, %s)",
            self.name,
            planned.action.operation,
            planned.action.action_id,
            letter.reason,
            letter.error_class,
        )

    def _wall(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)
