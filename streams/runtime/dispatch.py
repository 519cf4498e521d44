"""One sink's dispatcher: the deliver agent hands it records and moves on.

The agent reads `out.<sink>` records and `submit()`s each record's actions; it does not wait
for their delivery. The dispatcher keeps, per customer, a FIFO of pending actions and sends
them in `Sink.deliver()` calls that take everything pending across customers (so under load
one call carries many records' actions: attribute writes coalesce across records and
Customer.io gets v2 batches, Zendesk `*_many`). Rules:

- **In order per customer.** A customer is in at most one call at a time; its actions go
  in the order they were submitted. Different customers are delivered concurrently (within a
  call by `Sink.deliver`, and by up to `calls_per_lane` calls per lane).
- **Batches under steady load.** A lane starts its next call when the previous one returned
  (or has taken longer than `overlap_after`): what arrived meanwhile goes in one call. The
  busier the platform (a call waits for rate tokens), the larger the batches. The normal
  lane also starts at most one call per `normal_linger` (100 ms): enrichment a little later,
  in few requests, leaves the account's budget to suppression.
- **Two lanes.** A customer with a pending suppression write is served by the *urgent* lane,
  which takes that customer's actions up to its last suppression write; everything else
  (enrichment, analytics) by the *normal* lane. The urgent lane never waits for the normal
  one: its calls start as soon as a slot of its own is free, and the sink's token bucket
  serves suppression callers first. A suppression write waits only for the one call in
  flight for its own customer, if any: calls are cut at `max_call_actions` (200, one
  Customer.io v2 batch) so that call stays short.
- **Write order.** Stale attribute writes are dropped (`WriteOrder.drop_stale`) when a call
  is made — after every earlier action of that customer was handed over — and the writes
  handed over are recorded (`handed_over`) when the call returns.
- **Backpressure from the platform.** On `SinkBackpressureError` the actions left go back to
  the front of their customers' queues and no call starts before `retry_after`.
- **Bounded backlog.** At most `max_backlog` actions are pending or in flight (default
  20,000: minutes of enrichment at a platform's 100 requests/s). Beyond it `submit()` waits,
  so the agent stops reading and the backlog stays in Kafka.
- **Crash safety.** A record is complete once every one of its actions has an outcome
  (delivered, dead-lettered, skipped or found stale). Complete records are handed to
  `handled` (the runtime's `acks.mark_handled`) only after a checkpoint wrote the delivered
  ids and last-sent entries set so far to their changelogs (`checkpoint`, at most every
  `checkpoint_interval`) and the audit records of its calls were acknowledged. Offsets
  are never committed past a record that is not.
- **Rebalances.** While `halted()` (a rebalance or shutdown is under way) no call starts;
  once the calls in flight returned (or were cancelled after `halt_grace`, 3 s: a platform
  that is down must not hold the group's rebalance up), a checkpoint finishes what is
  complete, every other
  record is `abandoned` (read again by whoever owns its partition next; effects are
  idempotent) and the queues are emptied.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from connectors.delivery.errors import SinkBackpressureError
from connectors.delivery.sink import Outcome, Sink
from contracts.actions import Action
from streams.writeorder import WriteOrder

log = logging.getLogger(__name__)

URGENT, NORMAL = 0, 1
LANES = (URGENT, NORMAL)

PartitionOf = Callable[[str], int | None]
Checkpoint = Callable[[PartitionOf, PartitionOf], Awaitable[None]]
#: (partition, actions handed to the sink, the call's outcomes) → the audit record's ack
Audit = Callable[[int, list[Action], list[Outcome]], Awaitable[Awaitable[Any]]]


class _Record:
    __slots__ = ("message", "partition", "outstanding", "action_ids", "customers")

    def __init__(self, message: Any, partition: int, actions: list[Action]) -> None:
        self.message = message
        self.partition = partition
        self.outstanding = len(actions)
        self.action_ids = [a.action_id for a in actions]
        self.customers = list(dict.fromkeys(a.customer_key for a in actions))


class _Item:
    __slots__ = ("action", "record")

    def __init__(self, action: Action, record: _Record) -> None:
        self.action = action
        self.record = record

    @property
    def urgent(self) -> bool:
        return self.action.priority == "suppression"


class Dispatcher:
    def __init__(
        self,
        sink: Sink,
        *,
        order: WriteOrder,
        record_outcomes: Callable[[list[Outcome]], None],
        checkpoint: Checkpoint,
        handled: Callable[[Any], None],
        abandoned: Callable[[Any], None],
        halted: Callable[[], bool] = lambda: False,
        since: dict[str, float] | None = None,
        on_stale: Callable[[int], None] = lambda _n: None,
        audit: Audit | None = None,
        max_backlog: int = 20_000,
        max_call_actions: int = 200,
        calls_per_lane: int = 2,
        checkpoint_interval: float = 0.1,
        overlap_after: float = 0.25,
        normal_linger: float = 0.1,
        halt_grace: float = 3.0,
    ) -> None:
        self.sink = sink
        self.name = sink.name
        self._order = order
        self._record_outcomes = record_outcomes
        self._checkpoint_fn = checkpoint
        self._handled = handled
        self._abandoned = abandoned
        self._halted = halted
        self._since = since if since is not None else {}
        self._on_stale = on_stale
        self._audit = audit
        self._audits: list[Awaitable[Any]] = []  # audit records not yet awaited
        self.max_backlog = max_backlog
        self.max_call_actions = max_call_actions
        self.calls_per_lane = calls_per_lane
        self.checkpoint_interval = checkpoint_interval
        self.overlap_after = overlap_after
        self.normal_linger = normal_linger
        self.halt_grace = halt_grace
        self._last_start = [float("-inf"), float("-inf")]  # per lane, loop time

        self._queues: dict[str, deque[_Item]] = {}
        self._urgent_pending: dict[str, int] = {}  # customer → pending suppression writes
        # Customers with pending actions and no call in flight, per lane, oldest first.
        self._waiting: tuple[OrderedDict[str, None], OrderedDict[str, None]] = (
            OrderedDict(), OrderedDict()
        )
        self._busy: set[str] = set()
        # Calls in flight per lane: task → (oldest action's created_at, loop time started).
        self._calls: tuple[dict[asyncio.Task[None], tuple[float, float]], ...] = ({}, {})
        self._open: set[_Record] = set()
        self._complete: list[_Record] = []
        self._action_partition: dict[str, int] = {}
        self._customer_partition: dict[str, tuple[int, int]] = {}  # → (partition, records)
        self.backlog = 0  # actions pending or in flight
        self._paused_until = 0.0
        self._halting = False
        self._failure: BaseException | None = None

        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._completed = asyncio.Event()
        self._checkpoint_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._dispatch_loop(), name=f"dispatch-{self.name}"),
                loop.create_task(self._checkpoint_loop(), name=f"checkpoint-{self.name}"),
            ]
            for task in self._tasks:
                task.add_done_callback(self._loop_done)

    def _loop_done(self, task: asyncio.Task[None]) -> None:
        # A bug in either loop must stop delivery loudly (the agent raises), not stall it.
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception())

    def stop(self) -> None:
        """Cancel everything (shutdown): records not finished stay uncommitted."""
        for task in [*self._tasks, *self._calls[URGENT], *self._calls[NORMAL]]:
            task.cancel()
        self._tasks = []

    # -- the agent's side ---------------------------------------------------------------------

    async def submit(self, message: Any, partition: int, actions: list[Action]) -> None:
        """Take one record's actions; returns at once unless the backlog is full."""
        self._raise_failure()
        self.start()
        while self.backlog and self.backlog + len(actions) > self.max_backlog:
            self._space.clear()
            await self._space.wait()
            self._raise_failure()
        if self._halting or self._halted():
            self._abandoned(message)  # read again after the rebalance
            return
        record = _Record(message, partition, actions)
        self._open.add(record)
        if not actions:
            self._complete.append(record)
            self._completed.set()
            return
        for action_id in record.action_ids:
            self._action_partition[action_id] = partition
        for customer in record.customers:
            _, refs = self._customer_partition.get(customer, (partition, 0))
            self._customer_partition[customer] = (partition, refs + 1)
        for action in actions:
            item = _Item(action, record)
            customer = action.customer_key
            self._queues.setdefault(customer, deque()).append(item)
            if item.urgent:
                self._urgent_pending[customer] = self._urgent_pending.get(customer, 0) + 1
            if customer not in self._busy:
                self._file(customer)
        self.backlog += len(actions)
        self._update_since()
        self._wake.set()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    # -- queues -------------------------------------------------------------------------------

    def _file(self, customer: str) -> None:
        """Put a customer with pending actions and no call in flight into its lane."""
        if not self._queues.get(customer):
            self._waiting[URGENT].pop(customer, None)
            self._waiting[NORMAL].pop(customer, None)
            return
        if self._urgent_pending.get(customer):
            self._waiting[NORMAL].pop(customer, None)
            self._waiting[URGENT].setdefault(customer, None)
        elif customer not in self._waiting[NORMAL]:
            self._waiting[URGENT].pop(customer, None)
            self._waiting[NORMAL][customer] = None

    def _take(self, lane: int) -> list[_Item]:
        """The actions of one call: urgent customers up to their last suppression write,
        normal ones whole, until `max_call_actions` (a customer is never split otherwise)."""
        taken: list[_Item] = []
        customers: list[str] = []
        for customer in self._waiting[lane]:
            if len(taken) >= self.max_call_actions:
                break
            customers.append(customer)
            queue = self._queues[customer]
            if lane == URGENT:
                last = max(i for i, item in enumerate(queue) if item.urgent)
                for _ in range(last + 1):
                    taken.append(queue.popleft())
            else:
                taken.extend(queue)
                queue.clear()
        for customer in customers:
            self._waiting[lane].pop(customer, None)
            self._busy.add(customer)
        for item in taken:
            if item.urgent:
                customer = item.action.customer_key
                left = self._urgent_pending[customer] - 1
                if left:
                    self._urgent_pending[customer] = left
                else:
                    del self._urgent_pending[customer]
        return taken

    def _update_since(self) -> None:
        # Oldest action this sink is working on or waiting for (the backlog age gauge): the
        # calls in flight, and the first customer waiting in each lane.
        oldest = [t for calls in self._calls for t, _ in calls.values()]
        for lane in LANES:
            for customer in self._waiting[lane]:
                oldest.append(self._queues[customer][0].action.created_at.timestamp())
                break
        if oldest:
            self._since[self.name] = min(oldest)
        else:
            self._since.pop(self.name, None)

    # -- dispatching --------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Short waits: rebalances and the end of a platform pause are noticed by polling.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.05)
            self._wake.clear()
            if self._failure is not None:
                return
            if self._halted():
                await self._halt()
                continue
            if loop.time() < self._paused_until:
                continue
            for lane in LANES:
                while self._may_call(lane, loop.time()):
                    items = self._take(lane)
                    if not items:
                        break
                    oldest = min(i.action.created_at.timestamp() for i in items)
                    task = loop.create_task(self._call(items))
                    self._calls[lane][task] = (oldest, loop.time())
                    self._last_start[lane] = loop.time()
                    task.add_done_callback(functools.partial(self._call_done, lane))
            self._update_since()

    def _may_call(self, lane: int, now: float) -> bool:
        # One call at a time per lane while calls are quick: what arrives meanwhile goes
        # together in the next call (batches form under steady load, not only in bursts).
        # A call slower than `overlap_after` (retries, a slow platform) lets another start.
        calls = self._calls[lane]
        if len(calls) >= self.calls_per_lane:
            return False
        if lane == NORMAL and now - self._last_start[NORMAL] < self.normal_linger:
            return False
        return all(now - started >= self.overlap_after for _, started in calls.values())

    def _call_done(self, lane: int, task: asyncio.Task[None]) -> None:
        self._calls[lane].pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            # Only infrastructure failures get here (the sink dead-letters delivery errors).
            self._fail(task.exception())
        self._wake.set()

    def _fail(self, exc: BaseException | None) -> None:
        """Stop: every unfinished record is abandoned (never committed, read again by the
        partition's next owner) and the agent raises `exc` on its next record."""
        if self._failure is not None or exc is None:
            return
        log.error("sink %s: delivery stopped", self.name, exc_info=exc)
        self._failure = exc
        self._drop_all()

    def _drop_all(self) -> None:
        for record in list(self._open):
            self._finish(record)
            self._abandoned(record.message)
        self._queues.clear()
        self._urgent_pending.clear()
        for waiting in self._waiting:
            waiting.clear()
        self._busy.clear()
        self._complete.clear()
        self._audits.clear()
        self.backlog = 0
        self._space.set()  # a submit waiting for space sees the failure or the halt
        self._update_since()

    async def _call(self, items: list[_Item]) -> None:
        sendable, stale = self._order.drop_stale([i.action for i in items])
        if stale:
            self._on_stale(stale)
        outcomes: list[Outcome] = []
        left: set[str] = set()
        if sendable:
            try:
                outcomes = (await self.sink.deliver(sendable)).outcomes
            except SinkBackpressureError as exc:
                outcomes = exc.report.outcomes if exc.report is not None else []
                left = {a.action_id for a in exc.remaining or []}
                pause = exc.retry_after or 1.0
                loop = asyncio.get_running_loop()
                self._paused_until = max(self._paused_until, loop.time() + pause)
                log.info("sink %s paused %.1fs, %d actions wait", self.name, pause, len(left))
        self._order.handed_over(a for a in sendable if a.action_id not in left)
        self._record_outcomes(outcomes)
        if self._audit is not None and sendable:
            # The audit trail: one record per source partition, acknowledged before any
            # record it covers is marked handled (checkpoint).
            handed_ids = {a.action_id for a in sendable} - left
            handed: dict[int, list[Action]] = {}
            for item in items:
                if item.action.action_id in handed_ids:
                    handed.setdefault(item.record.partition, []).append(item.action)
            for partition, actions in handed.items():
                self._audits.append(await self._audit(partition, actions, outcomes))
        back: dict[str, list[_Item]] = {}
        done = 0
        for item in items:
            if item.action.action_id in left:
                back.setdefault(item.action.customer_key, []).append(item)
                continue
            done += 1
            record = item.record
            record.outstanding -= 1
            if record.outstanding == 0:
                self._complete.append(record)
                self._completed.set()
        for customer, returned in back.items():
            queue = self._queues.setdefault(customer, deque())
            queue.extendleft(reversed(returned))
            urgent = sum(1 for i in returned if i.urgent)
            if urgent:
                self._urgent_pending[customer] = self._urgent_pending.get(customer, 0) + urgent
        for customer in dict.fromkeys(i.action.customer_key for i in items):
            self._busy.discard(customer)
            self._file(customer)
            if not self._queues.get(customer):
                self._queues.pop(customer, None)
        self.backlog -= done
        if done:
            self._space.set()

    # -- checkpoints --------------------------------------------------------------------------

    async def _checkpoint_loop(self) -> None:
        while True:
            await self._completed.wait()
            await asyncio.sleep(self.checkpoint_interval)  # gather more records per write
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - any failure stops delivery (logged)
                self._fail(exc)
                return

    async def checkpoint(self) -> None:
        """Write the delivered ids and last-sent entries set so far, then finish the records
        that were complete before the write began."""
        async with self._checkpoint_lock:
            self._completed.clear()
            complete, self._complete = self._complete, []
            audits, self._audits = self._audits, []
            await self._checkpoint_fn(self._partition_of_action, self._partition_of_customer)
            if audits:
                await asyncio.gather(*audits)
            for record in complete:
                self._finish(record)
                self._handled(record.message)

    def _partition_of_action(self, action_id: str) -> int | None:
        return self._action_partition.get(action_id)

    def _partition_of_customer(self, customer: str) -> int | None:
        found = self._customer_partition.get(customer)
        return found[0] if found is not None else None

    def _finish(self, record: _Record) -> None:
        self._open.discard(record)
        for action_id in record.action_ids:
            self._action_partition.pop(action_id, None)
        for customer in record.customers:
            partition, refs = self._customer_partition.get(customer, (0, 1))
            if refs <= 1:
                self._customer_partition.pop(customer, None)
            else:
                self._customer_partition[customer] = (partition, refs - 1)

    # -- rebalances ---------------------------------------------------------------------------

    async def _halt(self) -> None:
        self._halting = True
        try:
            calls = [t for lane in self._calls for t in lane]
            if calls:
                # A call stuck in retries (a platform down) must not hold the rebalance up:
                # after `halt_grace` it is cancelled and its records are read again.
                _, stuck = await asyncio.wait(calls, timeout=self.halt_grace)
                for task in stuck:
                    task.cancel()
                if stuck:
                    log.warning("sink %s: %d calls cancelled for a rebalance", self.name,
                                len(stuck))
                    await asyncio.wait(stuck)
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - any failure stops delivery (logged)
                self._fail(exc)
            self._drop_all()  # read again after the rebalance
            while self._halted():  # noqa: ASYNC110 - a flag of Faust's, no event to wait on
                await asyncio.sleep(0.05)
        finally:
            self._halting = False
