"""Run a fake server on its own event loop in a background thread.

For tests that drive a real worker *process* synchronously: the fake must keep serving while
the test thread blocks. `with serve_in_thread(FakeCustomerIO()) as fake: ...` starts it,
and stops it (bounded) on exit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from connectors.testing.fakes.base import FakeServer

F = TypeVar("F", bound=FakeServer)


@contextmanager
def serve_in_thread(fake: F, timeout: float = 10.0) -> Iterator[F]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"{fake.name}-loop", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(fake.start(), loop).result(timeout)
        try:
            yield fake
        finally:
            asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()

