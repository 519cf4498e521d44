"""Only records an agent finished may be committed — and an agent may finish them later.

Faust acknowledges — and so commits — records it *skips*: records fetched before a rebalance
(old generation) or while the flow is suspended for a rebalance or shutdown, and the record
an agent was processing when it crashed (faust-streaming #221/#527, robinhood/faust #604).
Acked offsets are committed by the next commit, so those records were lost: `make chaos`
saw a survivor of a worker kill drop Customer.io events that sat in its stream buffers
when the group rebalanced.

Faust also acks a record as soon as its agent takes the next one. The agents pipeline: a
record's effects are still on their way to the broker when the next record is processed.
So an agent says `begin(message)` when it takes a record and `mark_handled(message)` once
everything the record caused is acknowledged; Faust's ack of a record still in flight is
*deferred* until then (the consumer keeps it among its unacked messages, so a rebalance or
shutdown waits for it). Any other ack is a skip: not committed, and the record is read again
by whoever owns the partition next (at-least-once; effects are idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

log = logging.getLogger(__name__)

_handled: WeakSet[Any] = WeakSet()
_in_flight: WeakSet[Any] = WeakSet()
_deferred: WeakKeyDictionary[Any, Callable[[], object]] = WeakKeyDictionary()


def begin(message: Any) -> None:
    """The agent took this record and will finish it later (`mark_handled` or `abandon`)."""
    _in_flight.add(message)


def mark_handled(message: Any) -> None:
    """Everything this record caused is acknowledged: its offset may be committed."""
    _in_flight.discard(message)
    _handled.add(message)
    commit = _deferred.pop(message, None)
    if commit is not None:  # Faust acked it while it was in flight: commit it now
        commit()


def abandon(message: Any) -> None:
    """The record could not be finished (its effects were not acknowledged): never commit
    it, so whoever owns the partition next reads it again."""
    _in_flight.discard(message)
    skip = _deferred.pop(message, None)
    if skip is not None:
        skip()


def take_handled(message: Any) -> bool:
    """True once for a record an agent finished; False for a record Faust skipped."""
    if message in _handled:
        _handled.discard(message)
        return True
    log.debug("not committing skipped record %s[%s]@%s", message.topic, message.partition,
              message.offset)
    return False


def defer_if_in_flight(message: Any, ack: Callable[[], object]) -> bool:
    """Called for Faust's ack of an unfinished record: if an agent is still working on it,
    keep `ack` to run when it finishes (or is abandoned) and say True."""
    if message in _in_flight:
        _deferred[message] = ack
        return True
    return False
