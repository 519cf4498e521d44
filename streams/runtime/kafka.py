"""The one place the product builds Kafka clients and runs the Faust worker.

Everything above the runtime (`app/`) asks here for producers, consumers and admin clients,
so client settings (timeouts, batching, and the cluster's security options) are decided in
one place; the types re-exported here are what callers annotate with.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Protocol

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
from aiokafka.helpers import create_ssl_context
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
    "configure",
    "consumer",
    "faust_credentials",
    "options_for",
    "replication_factor",
    "producer",
    "run_worker",
]

#: What a client raises when the cluster cannot be reached (the CLI's exit code 3).
UNREACHABLE_ERRORS: tuple[type[KafkaError], ...] = (
    KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable,
)

#: Extra keyword arguments for every client (security.protocol, SASL, TLS): set once at
#: start-up by the application from its settings (`configure`).
client_options: dict[str, Any] = {}
_topics = {"replication_factor": 1}


class SecuritySettings(Protocol):
    """What the clients read of the application's settings (app.settings.Settings)."""

    @property
    def kafka_security_protocol(self) -> str: ...

    @property
    def kafka_sasl_mechanism(self) -> str: ...

    @property
    def kafka_sasl_username(self) -> str | None: ...

    @property
    def kafka_sasl_password(self) -> Any: ...  # SecretStr | None

    @property
    def kafka_ssl_cafile(self) -> Path | None: ...

    @property
    def kafka_ssl_certfile(self) -> Path | None: ...

    @property
    def kafka_ssl_keyfile(self) -> Path | None: ...

    @property
    def kafka_ssl_key_password(self) -> Any: ...  # SecretStr | None

    @property
    def kafka_replication_factor(self) -> int: ...

    @property
    def embedded(self) -> bool: ...


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def _ssl_context(settings: SecuritySettings) -> ssl.SSLContext:
    def path(value: Path | None) -> str | None:
        return str(value) if value is not None else None

    context: ssl.SSLContext = create_ssl_context(
        cafile=path(settings.kafka_ssl_cafile),
        certfile=path(settings.kafka_ssl_certfile),
        keyfile=path(settings.kafka_ssl_keyfile),
        password=_secret(settings.kafka_ssl_key_password),
    )
    return context


def options_for(settings: SecuritySettings) -> dict[str, Any]:
    """aiokafka keyword arguments for `settings`' security protocol (TLS, SASL PLAIN/SCRAM)."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(settings)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=_secret(settings.kafka_sasl_password),
        )
    return options


def faust_credentials(settings: SecuritySettings) -> faust.types.auth.CredentialsT | None:
    """The Faust app's `broker_credentials` for the same settings (None: PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if settings.embedded or protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        assert context is not None
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=_secret(settings.kafka_sasl_password),
        ssl_context=context,
        mechanism=settings.kafka_sasl_mechanism,
    )


def configure(settings: SecuritySettings) -> None:
    """Make `settings`' security options and replication factor the process-wide defaults
    of every client built here (the embedded broker: PLAINTEXT, factor 1)."""
    client_options.clear()
    if not settings.embedded:
        client_options.update(options_for(settings))
    _topics["replication_factor"] = 1 if settings.embedded else settings.kafka_replication_factor


def replication_factor() -> int:
    """Of every topic the product creates."""
    return _topics["replication_factor"]


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
