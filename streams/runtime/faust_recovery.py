"""Faust's table recovery with the stream partitions sought *before* they resume.

After recovering the tables, Faust resumes the stream partitions and only then seeks them to
their committed offsets. Records fetched during that seek were processed from wherever the
fetcher stood; when the seek landed, Faust's read and commit bookkeeping jumped (`make chaos`
saw out.customerio commit from offset 8 to 49 with 9..47 never delivered). Seeking first
means the first record any agent sees after a rebalance is the committed one.
"""

from __future__ import annotations

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery


class SeekFirstRecovery(Recovery):
    async def _resume_streams(self, generation_id: int = 0) -> None:
        app = self.app
        consumer = app.consumer
        await app.on_rebalance_complete.send()
        assignment = consumer.assignment()
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
            self.log.dev("Resume stream partitions")
            consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        else:
            self.log.info("Resuming streams with empty assignment")
        self.completed.set()
        self.log.info("Resuming flow...")
        app.flow_control.resume()
        consumer.resume_flow()
        await app._fetcher.maybe_start()  # type: ignore[attr-defined]
        self.tables.on_actives_ready()
        self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")


class SeekFirstTableManager(TableManager):
    """`app.conf.TableManager`: the same manager, with `SeekFirstRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekFirstRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
