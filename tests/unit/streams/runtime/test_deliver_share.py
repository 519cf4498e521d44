"""Each worker spends the part of a platform account's budget that its part of the sink's
out-topic partitions is (streams/runtime/deliver.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from connectors.delivery.coalesce import LastWrittenCache
from connectors.delivery.ratelimit import TokenBucket
from streams.runtime.deliver import Delivery


def _topology(partitions: int) -> Any:
    def agent(*_args: Any, **_kwargs: Any) -> Callable[[Any], Any]:
        return lambda fn: fn

    topics = {
        f"out.{sink}": SimpleNamespace(partitions=partitions,
                                       get_topic_name=lambda sink=sink: f"t.out.{sink}")
        for sink in ("customerio", "zendesk")
    }
    topics["audit"] = SimpleNamespace(partitions=partitions, get_topic_name=lambda: "t.audit")
    app = SimpleNamespace(agent=agent, on_partitions_assigned=SimpleNamespace(connect=lambda f: f))
    return SimpleNamespace(app=app, topics=topics, last_sent=object(), delivered=object())


class TestShare:
    """The bucket's rate follows the out-topic partitions owned, on every assignment."""

    def test_share_follows_the_assignment(self) -> None:
        delivery = Delivery(_topology(4), producer=lambda: None)  # type: ignore[arg-type,return-value]
        delivery.register("customerio")
        cio, app_api = TokenBucket(95.0, 5.0), TokenBucket(9.0, 1.0)
        sink = SimpleNamespace(bucket=cio, app_bucket=app_api, last_written=None)
        delivery.sinks = {"customerio": sink}  # type: ignore[dict-item]
        tp = SimpleNamespace
        delivery.on_assigned([tp(topic="t.out.customerio", partition=0),
                              tp(topic="t.out.customerio", partition=3),
                              tp(topic="t.out.zendesk", partition=1)])
        assert cio.rate + cio.burst == 50.0 and app_api.rate + app_api.burst == 5.0
        delivery.on_assigned([tp(topic="t.out.customerio", partition=p) for p in range(4)])
        assert (cio.rate, cio.burst) == (95.0, 5.0)

    def test_share_known_before_the_sinks_exist_is_applied_to_them(self) -> None:
        delivery = Delivery(_topology(4), producer=lambda: None)  # type: ignore[arg-type,return-value]
        delivery.register("customerio")
        delivery.on_assigned([SimpleNamespace(topic="t.out.customerio", partition=2)])
        bucket = TokenBucket(95.0, 5.0)
        sink = SimpleNamespace(bucket=bucket, name="customerio", last_written=None)
        delivery.sinks = {"customerio": sink}  # type: ignore[dict-item]
        delivery.dispatcher("customerio")  # made at the first record: the share applies
        assert bucket.rate + bucket.burst == 25.0


class TestRebalance:
    """What the sinks last wrote is kept through a rebalance that hands a worker back what it
    had, and forgotten when another worker may have written to those people meanwhile."""

    def _delivery(self) -> tuple[Delivery, Any, LastWrittenCache]:
        topology = _topology(4)
        delivery = Delivery(topology, producer=lambda: None)  # type: ignore[arg-type,return-value]
        delivery.register("customerio")
        cache = LastWrittenCache()
        delivery.sinks = {"customerio": SimpleNamespace(bucket=TokenBucket(95.0, 5.0),  # type: ignore[dict-item]
                                                        last_written=cache)}
        return delivery, topology.app, cache

    @staticmethod
    def _assign(delivery: Delivery, app: Any, generation: int, partitions: list[int]) -> None:
        app.consumer_generation_id = generation
        delivery.forget()  # the revocation that precedes every assignment
        delivery.on_assigned([SimpleNamespace(topic="t.out.customerio", partition=p)
                              for p in partitions])

    @staticmethod
    def _known(cache: LastWrittenCache) -> bool:
        return cache.changed("customerio", "p1", {"has_open_ticket": False}) == {}

    def test_same_partitions_in_the_next_generation_keep_it(self) -> None:
        delivery, app, cache = self._delivery()
        self._assign(delivery, app, 1, [0, 1])
        cache.remember("customerio", "p1", {"has_open_ticket": False})
        self._assign(delivery, app, 2, [0, 1])
        assert self._known(cache)
        self._assign(delivery, app, 3, [0])  # one went to another worker
        assert self._known(cache)

    def test_a_gained_partition_clears_it(self) -> None:
        delivery, app, cache = self._delivery()
        self._assign(delivery, app, 1, [0])
        cache.remember("customerio", "p1", {"has_open_ticket": False})
        self._assign(delivery, app, 2, [0, 1])
        assert not self._known(cache)

    def test_a_missed_generation_clears_it(self) -> None:
        delivery, app, cache = self._delivery()
        self._assign(delivery, app, 1, [0, 1])
        cache.remember("customerio", "p1", {"has_open_ticket": False})
        self._assign(delivery, app, 3, [0, 1])  # generation 2 went on without this worker
        assert not self._known(cache)
