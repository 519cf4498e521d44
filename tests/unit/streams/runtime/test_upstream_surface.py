"""The private Faust and aiokafka names the runtime overrides or reads still exist.

streams/runtime/ overrides private methods of Faust's consumer, transport thread, recovery
and table manager, and reads private attributes of Faust's stores, producer and consumer
(see faust_app.py, faust_recovery.py, tablewriter.py, agents.py). An upgrade that renames
one breaks crash safety silently, or only in `make chaos`; this fails in a second instead.
"""

from __future__ import annotations

import inspect
from typing import Any

import aiokafka
import pytest
from aiokafka.producer.producer import AIOKafkaProducer
from faust.stores import memory, rocksdb
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer as BaseConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

# (owner, name, what the runtime does with it, the parameters it relies on)
OVERRIDDEN_METHODS: list[tuple[Any, str, tuple[str, ...]]] = [
    (faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer", ("transport",)),
    (faust_aiokafka.AIOKafkaConsumerThread, "_highwaters", ("partitions",)),
    (faust_aiokafka.Consumer, "_new_consumer_thread", ()),
    (BaseConsumer, "_add_gap", ("tp", "offset_from", "offset_to")),
    (BaseConsumer, "getmany", ("timeout",)),
    (faust_aiokafka.Consumer, "_seek", ("partition", "offset")),
    (BaseConsumer, "_new_offset", ("tp",)),
    (BaseConsumer, "perform_seek", ()),
    (BaseConsumer, "ack", ("message",)),
    (faust_aiokafka.Transport, "Consumer", ()),
    (Recovery, "_resume_streams", ("generation_id",)),
    (Recovery, "_is_changelog_tp", ("tp",)),
    (TableManager, "recovery", ()),
]

# Private attributes set in __init__/__post_init__ that the runtime reads or writes.
INSTANCE_ATTRIBUTES: list[tuple[Any, str]] = [
    (BaseConsumer, "_gap"),
    (BaseConsumer, "_acked"),
    (BaseConsumer, "_committed_offset"),
    (BaseConsumer, "_unacked_messages"),
    (faust_aiokafka.Consumer, "_thread"),
    (memory.Store, "_key_partition"),
    (rocksdb.Store, "_key_index"),
    (TableManager, "_recovery"),
    (aiokafka.AIOKafkaConsumer, "_fetch_max_wait_ms"),
    (faust_aiokafka.Producer, "_producer"),
]


def _source_of_init(cls: type) -> str:
    parts = []
    for klass in cls.__mro__:
        for name in ("__init__", "__post_init__", "on_init", "_new_producer", "start"):
            fn = klass.__dict__.get(name)
            if fn is not None:
                try:
                    parts.append(inspect.getsource(fn))
                except (OSError, TypeError):
                    pass
    return "\n".join(parts)


class TestUpstreamSurface:
    """Every private upstream name the runtime depends on is still there, same shape."""

    @pytest.mark.parametrize(("owner", "name", "params"), OVERRIDDEN_METHODS,
                             ids=[f"{o.__name__}.{n}" for o, n, _ in OVERRIDDEN_METHODS])
    def test_overridden_method_exists(self, owner: Any, name: str, params: tuple[str, ...]) -> None:
        assert hasattr(owner, name), f"{owner.__module__}.{owner.__name__}.{name} is gone"
        if params:
            signature = inspect.signature(getattr(owner, name))
            missing = [p for p in params if p not in signature.parameters]
            assert not missing, f"{owner.__name__}.{name} lost parameters {missing}"

    @pytest.mark.parametrize(("owner", "name"), INSTANCE_ATTRIBUTES,
                             ids=[f"{o.__name__}.{n}" for o, n in INSTANCE_ATTRIBUTES])
    def test_private_attribute_is_still_set(self, owner: type, name: str) -> None:
        assert f"self.{name}" in _source_of_init(owner), (
            f"{owner.__module__}.{owner.__name__} no longer sets {name}"
        )

    def test_rocksdb_store_files_keys_per_partition(self) -> None:
        assert hasattr(rocksdb.Store, "_db_for_partition")
        assert "partition" in inspect.signature(rocksdb.Store._db_for_partition).parameters

    def test_producer_batches_are_what_the_table_writer_uses(self) -> None:
        for name in ("create_batch", "send_batch"):
            assert hasattr(AIOKafkaProducer, name)
        assert "partition" in inspect.signature(AIOKafkaProducer.send_batch).parameters

    def test_worker_consumer_fetch_wait_is_hard_coded_where_we_override_it(self) -> None:
        # If Faust ever makes the wait a setting, the override can go (STACK-NOTES).
        source = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
        assert "fetch_max_wait_ms" in source

    def test_streams_ack_through_the_consumer(self) -> None:
        """Faust's compiled iterator acks inline, past `Consumer.ack` (deferred acks): the
        runtime switches it off, and Faust still picks its iterator by that name."""
        import faust.streams

        import streams.runtime.faust_app  # noqa: F401 - the switch is made on import

        assert "_CStreamIterator" in inspect.getsource(faust.streams.Stream.__aiter__)
        assert faust.streams._CStreamIterator is None

    def test_flow_is_suspended_before_the_rebalance_waits_for_unfinished_records(self) -> None:
        # The deliver dispatchers halt (finish, checkpoint, abandon the rest) when the flow
        # is suspended; a rebalance must suspend it before waiting for deferred acks.
        from faust.app.base import App
        from mode.utils.queues import FlowControlEvent

        assert hasattr(FlowControlEvent, "is_active")
        source = inspect.getsource(App._on_partitions_revoked)
        assert "flow_control.suspend" in source and "_consumer_wait_empty" in source
        assert source.index("flow_control.suspend") < source.index("_consumer_wait_empty")
        assert hasattr(App, "on_partitions_assigned")  # the rate budget's share follows it

    def test_assignment_sets_the_group_generation(self) -> None:
        # Delivery._check_last_written and SeekFirstRecovery read app.consumer_generation_id.
        listener = faust_aiokafka.ConsumerRebalanceListener.on_partitions_assigned
        assert "consumer_generation_id" in inspect.getsource(listener)
