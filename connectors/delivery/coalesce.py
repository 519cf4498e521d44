"""Coalescing of attribute updates and the last-written cache (SPEC S6, S7).

`AttributeCoalescer.coalesce(actions)` turns a batch into the requests to make:
- attribute updates (`Action.is_attribute_update`) for the same (sink, person) whose
  `created_at` lie within `window_seconds` of the group's first collapse into one action:
  latest value per field wins, the earliest `received_at` is kept (latency is measured from
  the first receipt), the highest priority is kept, and every collapsed id is remembered so
  all are marked delivered together;
- anything else passes through in order. A non-attribute action for a person closes that
  person's open group, so an event queued after an identify never overtakes it and a later
  identify never jumps ahead of the event.

`LastWrittenCache` remembers what we last wrote per (sink, person, field): writes that change
nothing are skipped, and a webhook echoing a value equal to it is our own (loop prevention).
It is only true while this worker is the one writing to those people: when partitions move
(a rebalance), another worker may have written since, so the runtime `clear()`s it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from contracts.actions import Action


@dataclass
class Planned:
    """One request to make: the (possibly merged) action and every action id it covers."""

    action: Action
    covered: list[str] = field(default_factory=list)

    @property
    def person_key(self) -> tuple[str, str]:
        return (self.action.sink, self.action.person)


def _merge_payload(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    # One level deep: {"attributes": {...}} maps merge per field, other keys are replaced.
    merged = dict(old)
    for key, value in new.items():
        prev = merged.get(key)
        if isinstance(prev, dict) and isinstance(value, dict):
            merged[key] = {**prev, **value}
        else:
            merged[key] = value
    return merged


def _merge(first: Action, later: Action) -> Action:
    received = [t for t in (first.received_at, later.received_at) if t is not None]
    priority = first.priority if first.priority_rank <= later.priority_rank else later.priority
    return later.replace(
        payload=_merge_payload(first.payload, later.payload),
        received_at=min(received) if received else None,
        priority=priority,
    )


class AttributeCoalescer:
    def __init__(self, window_seconds: float = 1.0) -> None:
        self.window_seconds = window_seconds

    def coalesce(self, actions: list[Action]) -> list[Planned]:
        planned: list[Planned] = []
        # (sink, person) -> (index in planned, created_at of the group's first action)
        open_groups: dict[tuple[str, str], tuple[int, float]] = {}
        for action in actions:
            key = (action.sink, action.person)
            if not action.is_attribute_update:
                open_groups.pop(key, None)  # ordering barrier for this person
                planned.append(Planned(action, [action.action_id]))
                continue
            created = action.created_at.timestamp()
            group = open_groups.get(key)
            if group is not None and created - group[1] <= self.window_seconds:
                target = planned[group[0]]
                target.action = _merge(target.action, action)
                target.covered.append(action.action_id)
                continue
            open_groups[key] = (len(planned), created)
            planned.append(Planned(action, [action.action_id]))
        return planned


_MISSING = object()


class LastWrittenCache:
    """Bounded LRU of the last value written per (sink, person, field)."""

    def __init__(self, max_people: int = 100_000) -> None:
        self._max = max_people
        self._values: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        #: bumped by `clear()`: a write that started before a clear is not remembered
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        """Forget everything, including writes in flight now (pass `epoch` to `remember`)."""
        self._values.clear()
        self.epoch += 1

    def remember(
        self, sink: str, person: str, attributes: dict[str, Any], epoch: int | None = None
    ) -> None:
        """Note a confirmed write; `epoch` is `self.epoch` read when the write began (a
        write that began before a `clear()` may be older than what another worker wrote)."""
        if epoch is not None and epoch != self.epoch:
            return
        key = (sink, person)
        self._values.setdefault(key, {}).update(attributes)
        self._values.move_to_end(key)
        while len(self._values) > self._max:
            self._values.popitem(last=False)

    def last(self, sink: str, person: str, field_name: str) -> Any:
        """The value last written, or the module's `_MISSING` sentinel."""
        return self._values.get((sink, person), {}).get(field_name, _MISSING)

    def changed(self, sink: str, person: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """The subset of `attributes` that differs from what we last wrote."""
        known = self._values.get((sink, person), {})
        return {k: v for k, v in attributes.items() if known.get(k, _MISSING) != v}

    def is_echo(self, sink: str, person: str, field_name: str, value: Any) -> bool:
        """True when an inbound change equals what we last wrote: our own write coming back."""
        return bool(self.last(sink, person, field_name) == value)

    def observe(self, sink: str, person: str, field_name: str, value: Any) -> None:
        """An inbound (not ours) value: forget our stale write so the next one is not skipped."""
        known = self._values.get((sink, person))
        if known is not None and known.get(field_name, _MISSING) != value:
            known.pop(field_name, None)

    def forget(self, sink: str, person: str) -> None:
        self._values.pop((sink, person), None)
