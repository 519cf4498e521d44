"""The backfill loop: fetch a page, write it exactly once, store the cursor, report."""

from __future__ import annotations

import asyncio
import logging

from app.backfill.sources import BackfillSource, Fetched
from app.backfill.state import BackfillState, Pending, StateFile
from app.backfill.writer import ITEM, MARKER, RawWriter
from app.replay.progress import Progress

log = logging.getLogger(__name__)


class Backfill:
    def __init__(
        self,
        source: BackfillSource,
        writer: RawWriter,
        state_file: StateFile,
        *,
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.writer = writer
        self.state_file = state_file
        self.progress = progress or Progress(f"backfill {source.name}", unit="written")
        self.stop_requested = asyncio.Event()
        self.fetched = 0  # records fetched by this run (for the progress against a total)

    def initial_state(self, since: float, *, restart: bool = False) -> BackfillState:
        state = None if restart else self.state_file.load()
        if state is None or state.since != since:
            if state is not None and not state.done:
                log.info("backfill %s: new --since, starting over", self.source.name)
            state = BackfillState(self.source.name, since)
        return state

    async def run(self, since: float, *, restart: bool = False) -> BackfillState:
        state = self.initial_state(since, restart=restart)
        while not state.done and not self.stop_requested.is_set():
            # A page is written to the end even when a stop is asked for mid-page.
            fetched = await asyncio.shield(self._page(state))
            total = fetched.extra.get("total")
            if isinstance(total, int) and total > 0:
                # The source says how many records match (Intercom's total_count): % and ETA.
                self.fetched += len(fetched.envelopes) + fetched.unkeyed
                self.progress.update(state.written, min(self.fetched, total), total)
            else:
                self.progress.update(state.written)
        self.progress.finish("complete" if state.done else "stopped; run again to resume")
        return state

    async def _page(self, state: BackfillState) -> Fetched:
        fetched = await self.source.fetch(state.cursor, state.since)
        written_before: set[str] = set()
        if state.pending is None:
            marker = f"{self.source.name}:{state.since}:{state.pages}"
            state.pending = Pending(marker, await self.writer.end_offsets())
            self.state_file.save(state)
        else:  # the previous run stopped after this page was (maybe partly) written
            written_before = await self.writer.written_ids(
                state.pending.marker, state.pending.from_offsets
            )
        marker = state.pending.marker
        envelopes = [
            e.replace(headers={**e.headers, MARKER: marker})
            for e in fetched.envelopes
            if e.headers[ITEM] not in written_before
        ]
        if envelopes:
            await self.writer.write(envelopes)
        state.cursor = fetched.cursor
        state.pages += 1
        state.written += len(envelopes)
        state.done = fetched.done
        state.pending = None
        self.state_file.save(state)
        if fetched.unkeyed:
            log.warning("backfill %s: %d records without an identifier skipped",
                        self.source.name, fetched.unkeyed)
        return fetched
