"""Pure per-customer support state machine (SPEC S4): models, transitions, timers."""

from streams.state.config import StateConfig
from streams.state.machine import (
    InvalidEvent,
    StateAbsorbed,
    absorbed_tombstone,
    apply,
    expire,
    merge_states,
    next_deadline,
)
from streams.state.model import SupportState, TicketState
from streams.state.timers import DueIndex
from streams.state.transitions import Transition

__all__ = [
    "DueIndex",
    "InvalidEvent",
    "StateAbsorbed",
    "StateConfig",
    "SupportState",
    "TicketState",
    "Transition",
    "absorbed_tombstone",
    "apply",
    "expire",
    "merge_states",
    "next_deadline",
]
