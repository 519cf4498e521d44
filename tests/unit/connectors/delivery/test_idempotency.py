from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from connectors.delivery.clock import VirtualClock
from connectors.delivery.idempotency import FileDeliveredStore, InMemoryDeliveredStore


class TestInMemoryStore:
    """The in-memory store remembers ids for the life of the process."""

    async def test_add_contains(self) -> None:
        store = InMemoryDeliveredStore()
        assert not await store.contains("a")
        await store.add("a")
        assert await store.contains("a")


class TestFileStore:
    """The file store survives a restart, prunes by horizon and stays bounded."""

    async def test_survives_reopen(self, tmp_path: Path) -> None:
        store = FileDeliveredStore(tmp_path)
        await asyncio.gather(*(store.add(f"id{i}") for i in range(50)))
        await store.close()
        reopened = FileDeliveredStore(tmp_path)
        assert all([await reopened.contains(f"id{i}") for i in range(50)])
        assert not await reopened.contains("id50")
        assert len(reopened) == 50

    async def test_group_commit_writes_one_line_per_id(self, tmp_path: Path) -> None:
        store = FileDeliveredStore(tmp_path, name="zendesk")
        await asyncio.gather(*(store.add(f"x{i}") for i in range(10)))
        lines = (tmp_path / "delivered" / "zendesk.log").read_text().splitlines()
        assert sorted(line.split("\t")[1] for line in lines) == sorted(f"x{i}" for i in range(10))

    async def test_add_many_is_durable_when_it_returns(self, tmp_path: Path) -> None:
        store = FileDeliveredStore(tmp_path)
        await asyncio.gather(store.add_many(["a", "b"]), store.add("c"), store.add_many([]))
        assert all([await store.contains(i) for i in "abc"])
        reopened = FileDeliveredStore(tmp_path)  # no close(): what returned is on disk
        assert all([await reopened.contains(i) for i in "abc"]) and len(reopened) == 3

    async def test_horizon_prunes_old_entries(self, tmp_path: Path) -> None:
        clock = VirtualClock()
        store = FileDeliveredStore(tmp_path, horizon=100, clock=clock)
        await store.add("old")
        clock.advance(60)
        await store.add("young")
        clock.advance(60)
        assert not await store.contains("old")
        assert await store.contains("young")
        reopened = FileDeliveredStore(tmp_path, horizon=100, clock=clock)
        assert len(reopened) == 1 and await reopened.contains("young")

    async def test_torn_last_line_is_ignored(self, tmp_path: Path) -> None:
        store = FileDeliveredStore(tmp_path)
        await store.add("whole")
        with store.path.open("ab") as fh:
            fh.write(b"17000")  # crash in the middle of a write
        reopened = FileDeliveredStore(tmp_path)
        await reopened.add("after")
        again = FileDeliveredStore(tmp_path)
        assert await again.contains("whole") and await again.contains("after")
        assert len(again) == 2

    async def test_compaction_bounds_file(self, tmp_path: Path) -> None:
        clock = VirtualClock()
        store = FileDeliveredStore(tmp_path, horizon=10, clock=clock, fsync=False)
        for round_ in range(5):
            await asyncio.gather(*(store.add(f"r{round_}-{i}") for i in range(600)))
            clock.advance(20)  # everything so far falls out of the horizon
        await store.close()
        lines = store.path.read_text().splitlines()
        assert len(lines) <= 2 * 600 + 1024

    async def test_rejects_bad_ids_and_names(self, tmp_path: Path) -> None:
        store = FileDeliveredStore(tmp_path)
        with pytest.raises(ValueError):
            await store.add("a\tb")
        with pytest.raises(ValueError):
            FileDeliveredStore(tmp_path, name="../escape")
