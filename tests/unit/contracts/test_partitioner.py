from __future__ import annotations

from aiokafka.partitioner import murmur2 as kafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from contracts.partitioner import murmur2, partition_for


class TestPartitioner:
    """Customer keys go to the partition Kafka's default partitioner would choose."""

    @given(st.binary(max_size=64))
    def test_murmur2_matches_kafka(self, data: bytes) -> None:
        assert murmur2(data) == kafka_murmur2(data)

    @given(st.text(max_size=40), st.integers(min_value=1, max_value=64))
    def test_partition_matches_kafka(self, key: str, partitions: int) -> None:
        expected = (kafka_murmur2(key.encode()) & 0x7FFFFFFF) % partitions
        assert partition_for(key, partitions) == expected
