"""Only records an agent finished may be committed.

Faust acknowledges — and so commits — records it *skips*: records fetched before a rebalance
(old generation) or while the flow is suspended for a rebalance or shutdown, and the record
an agent was processing when it crashed (faust-streaming #221/#527, robinhood/faust #604).
Acked offsets are committed by the next commit, so those records were lost: `make chaos`
saw a survivor of a worker kill drop Customer.io events that sat in its stream buffers
when the group rebalanced.

The agents call `mark_handled(message)` after a record's effects are acknowledged; the
consumer (streams/runtime/faust_app.py) turns any other ack into "not committed": the record is
read again by whoever owns the partition next (at-least-once; effects are idempotent).
"""

from __future__ import annotations

import logging
from typing import Any
from weakref import WeakSet

log = logging.getLogger(__name__)

_handled: WeakSet[Any] = WeakSet()


def mark_handled(message: Any) -> None:
    """The agent finished this record: its offset may be committed."""
    _handled.add(message)


def take_handled(message: Any) -> bool:
    """True once for a record an agent finished; False for a record Faust skipped."""
    if message in _handled:
        _handled.discard(message)
        return True
    log.debug("not committing skipped record %s[%s]@%s", message.topic, message.partition,
              message.offset)
    return False
