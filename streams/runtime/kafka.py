"""The one place the product builds Kafka clients and runs the Faust worker.

Everything above the runtime (`app/`) asks here for producers, consumers and admin clients,
so client settings (timeouts, batching, and the cluster's security options) are decided in
one place; the types re-exported here are what callers annotate with.
"""

from __future__ import annotations

from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
)
from faust.exceptions import ConsumerNotStarted
from mode import Service

__all__ = [
    "AIOKafkaAdminClient",
    "AIOKafkaConsumer",
    "AIOKafkaProducer",
    "CommitFailedError",
    "ConsumerNotStarted",
    "KafkaError",
    "NewTopic",
    "Service",
    "TopicPartition",
    "UNREACHABLE_ERRORS",
    "admin",
    "client_options",
    "consumer",
    "producer",
    "run_worker",
]

#: What a client raises when the cluster cannot be reached (the CLI's exit code 3).
UNREACHABLE_ERRORS: tuple[type[KafkaError], ...] = (
    KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable,
)

#: Extra keyword arguments for every client (security.protocol, SASL, TLS): set once at
#: start-up by the application from its settings.
client_options: dict[str, Any] = {}


def producer(bootstrap_servers: str, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers, **client_options, **options)


def consumer(bootstrap_servers: str, *topics: str, **options: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap_servers, **client_options, **options
    )


def admin(bootstrap_servers: str, **options: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_options, **options)


def run_worker(
    app: faust.App, *, loglevel: str = "INFO", redirect_stdouts: bool = True
) -> int:
    """Run the Faust worker of `app` until it stops; its exit code. `redirect_stdouts`:
    Faust's default of turning prints into WARNING log lines."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=redirect_stdouts)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
