"""Carrying out an identity merge across partitions (design: streams/identity.py).

1. ingest resolves an event to several keys: it writes the identity links and sends an
   `absorb` command to the absorbed key's partition of `events.by-customer`;
2. there, the absorbed state is replaced by a tombstone (`merged_into`) and its bytes are
   sent as `merge_in` to the survivor's partition; later events for the absorbed key meet
   the tombstone and are forwarded (`StateAbsorbed`);
3. there, `merge_states` folds it into the survivor's state and emits `states_merged`.
Both steps are idempotent (a second absorb finds a tombstone; merging a tombstone is a
no-op), so replays after a crash or rebalance are safe.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from msgspec.structs import replace

from contracts.records import encode_merge_in
from streams import parking
from streams.routing import Router
from streams.stages import ApplyResult, _route_all, release_parked
from streams.state.config import StateConfig
from streams.state.machine import StateAbsorbed, absorbed_tombstone, merge_states, next_deadline
from streams.state.model import SupportState


def absorb(
    command: dict[str, Any],
    *,
    get_state: Callable[[str], SupportState | None],
    put_state: Callable[[str, SupportState], None],
) -> tuple[str, bytes] | None:
    """Tombstone the absorbed key; returns (survivor, merge_in record) to send, if any."""
    absorbed_key, survivor = command["absorbed"], command["survivor"]
    state = get_state(absorbed_key)
    if state is not None and state.merged_into is not None:
        return None  # already absorbed (a replayed command)
    current = state or SupportState(customer_key=absorbed_key)
    put_state(absorbed_key, absorbed_tombstone(current, survivor))
    if state is None:
        return None
    return survivor, encode_merge_in(
        survivor, state.to_bytes(), command["event_id"], float(command["at"])
    )


def merge_in(
    command: dict[str, Any],
    *,
    get_state: Callable[[str], SupportState | None],
    put_state: Callable[[str, SupportState], None],
    config: StateConfig,
    router: Router,
) -> ApplyResult:
    result = ApplyResult()
    survivor_key = command["survivor"]
    absorbed = SupportState.from_bytes(base64.b64decode(command["state"]))
    survivor = get_state(survivor_key) or SupportState(customer_key=survivor_key)
    at = datetime.fromtimestamp(float(command["at"]), UTC)
    try:
        merged, transitions = merge_states(
            survivor, absorbed, config, event_id=command["event_id"], occurred_at=at
        )
    except StateAbsorbed as moved:
        # The survivor was itself merged meanwhile: pass the state on down the chain.
        result.forwarded_merges.append(
            (moved.survivor, encode_merge_in(
                moved.survivor, absorbed.to_bytes(), command["event_id"], float(command["at"])
            ))
        )
        return result
    if absorbed.parked:  # the absorbed customer's parked events move with it
        merged = replace(merged, parked=parking.combined(merged.parked, absorbed.parked))
    if merged is not survivor:
        result.transitions.extend(transitions)
        _route_all(router, transitions, merged, None, result)
        if merged.parked and router.addressable(merged.identities):
            merged = release_parked(
                survivor_key, merged, config=config, router=router, result=result
            )
        put_state(survivor_key, merged)
        result.deadlines[survivor_key] = next_deadline(merged, config)
    return result
