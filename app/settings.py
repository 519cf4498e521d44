"""Settings: environment variables (prefix ``SUPPORTSYNC_``) validated by pydantic at start-up.

Secrets are `SecretStr` so they never appear in a repr or a log line. A setting that fails
validation stops the process with an error naming the variable (see `load_settings`).
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SINK_NAMES = ("customerio", "zendesk", "intercom", "webhook", "audiences", "warehouse")
US_TRACK_URL, EU_TRACK_URL = "https://track.customer.io", "https://track-eu.customer.io"
US_APP_URL, EU_APP_URL = "https://api.customer.io", "https://api-eu.customer.io"


#: Room a raw record needs beyond the body: envelope metadata, frame and Kafka record headers.
BODY_HEADROOM_BYTES = 16 * 1024


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (a wildcard bind such as 0.0.0.0 is not)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # any other name may resolve anywhere


#: Inbound source → the setting holding its secret (HMAC key, client secret or write key).
SOURCE_SECRETS = {
    "zendesk": "zendesk_webhook_secret",
    "intercom": "intercom_client_secret",
    "customerio": "customerio_webhook_signing_key",
    "pipelines": "pipelines_write_key",
}

#: Values published in this repository (docker-compose.yml's old fallbacks, docs) or otherwise
#: well known: anyone could sign webhooks with them, so they are refused as secrets.
REFUSED_SECRETS = frozenset({
    "dev-zendesk-secret", "dev-intercom-secret", "dev-cio-key", "dev-write-key",
    "changeme", "change-me", "secret", "password", "admin", "test", "dev", "supportsync",
})

ADMIN_TOKEN_MIN_CHARS = 16


class ConfigError(Exception):
    """Invalid configuration; the message names the offending field."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUPPORTSYNC_", extra="ignore")

    # Kafka. Unset bootstrap servers means: start the embedded Tansu broker (SPEC S9).
    kafka_bootstrap_servers: str | None = None
    topic_prefix: str = "supportsync."
    partitions: int = Field(default=8, ge=1, le=1024)
    app_id: str = "supportsync"
    state_version: str = "v1"
    # Faust hard-codes 1500 ms; Tansu answers an idle fetch after ~half of it (STACK-NOTES).
    fetch_max_wait_ms: int = Field(default=10, ge=1, le=5000)
    session_timeout_s: float = Field(default=6.0, gt=0)
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    # The one switch for workarounds only Tansu needs (its short end offsets); harmless on
    # Apache Kafka, where they find nothing to correct.
    tansu_quirks: bool = True
    # Kafka security (Apache Kafka only; the embedded broker is PLAINTEXT on loopback).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None  # CA bundle; unset: the system's trust store
    kafka_ssl_certfile: Path | None = None  # client certificate (mutual TLS)
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    #: Replication factor of every topic supportsync creates (and of Faust's changelogs).
    kafka_replication_factor: int = Field(default=1, ge=1, le=16)
    #: Largest record supportsync writes (every producer's max request size). Kafka's brokers
    #: refuse records over `message.max.bytes` (1 MiB + 12 by default): keep this below it.
    kafka_max_request_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)

    # Public web server (webhooks, /v1 API, /healthz).
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535)
    # Admin listener (status page, /state, /metrics, /healthz): loopback unless a token is set.
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(default=6068, ge=0, le=65535)
    admin_token: SecretStr | None = None
    #: comma-separated Host header names accepted on a token-less (loopback) admin listener
    #: besides localhost/127.0.0.1/::1 (e.g. an SSH tunnel's name)
    admin_allowed_hosts: str = ""
    #: Largest webhook body accepted (413 past it). Must leave `BODY_HEADROOM_BYTES` of
    #: `kafka_max_request_bytes` for the envelope, so that every accepted body is writable.
    max_body_bytes: int = Field(default=1024 * 1024 - BODY_HEADROOM_BYTES, ge=1024)
    signature_tolerance_s: int = Field(default=300, ge=1)
    #: A connection whose request headers are not all in this long after it opened (or after
    #: its previous response) is closed (slow-header clients).
    web_header_timeout_s: float = Field(default=15.0, gt=0)
    #: A request body not received in full this long after its headers is refused (408).
    web_body_timeout_s: float = Field(default=30.0, gt=0)
    #: Bodies held at once across every connection, while they are read and handled (they
    #: are buffered before their signature can be checked); past it: 503, retry later.
    ingress_max_buffered_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    # Ingress groups webhook envelopes per partition for this long, so that one Kafka record
    # carries many events and Faust's per-record cost is paid once per batch.
    ingress_linger_ms: float = Field(default=3.0, ge=0)
    # While the pipeline is behind, a partition's next raw record leaves at most this often
    # (records fill instead: fewer, larger records for the agents).
    ingress_record_interval_ms: float = Field(default=150.0, ge=0)
    ingress_max_batch: int = Field(default=256, ge=1)

    data_dir: Path = Path(".supportsync")
    #: Faust table store; default: memory:// with the embedded broker (it forgets everything
    #: on stop anyway), rocksdb:// (rocksdict) with a real cluster.
    store: str | None = None
    store_dir: Path | None = None

    #: comma-separated inbound sources to serve. Outside embedded mode each needs its secret;
    #: in embedded mode missing ones are generated.
    sources: str = "zendesk,intercom,customerio,pipelines"
    # Webhook secrets; generated in embedded mode when unset. Each may list several,
    # comma-separated (one per Zendesk webhook, or the old and new one while rotating).
    zendesk_webhook_secret: SecretStr | None = None
    intercom_client_secret: SecretStr | None = None
    customerio_webhook_signing_key: SecretStr | None = None
    pipelines_write_key: SecretStr | None = None

    # Customer.io
    customerio_track_url: str = US_TRACK_URL
    customerio_app_url: str = US_APP_URL
    customerio_site_id: SecretStr | None = None
    customerio_api_key: SecretStr | None = None
    customerio_app_api_key: SecretStr | None = None
    customerio_identifier: str = "email"
    customerio_rate_per_s: float = Field(default=100.0, gt=0)
    #: "eu" switches the default Track/App base URLs to track-eu / api-eu.customer.io
    customerio_region: Literal["us", "eu"] = "us"
    customerio_app_rate_per_s: float = Field(default=10.0, gt=0)

    # Zendesk
    zendesk_base_url: str | None = None
    zendesk_subdomain: str | None = None
    zendesk_email: SecretStr | None = None
    zendesk_api_token: SecretStr | None = None
    #: the Zendesk user supportsync writes as (its changes coming back are dropped); also
    #: learned at start from GET /api/v2/users/me, and the credentials' email counts too
    zendesk_api_user_id: str | None = None
    zendesk_rate_per_min: float = Field(default=700.0, gt=0)

    # Intercom
    intercom_base_url: str = "https://api.intercom.io"
    intercom_access_token: SecretStr | None = None
    intercom_admin_id: str | None = None  # author of notes, replies and conversation parts
    #: ask the platforms who supportsync writes as (Zendesk users/me, Intercom /me) at start,
    #: when their credentials are set; off: only the configured ids count as our own writes
    learn_own_writers: bool = True
    intercom_rate_per_10s: float = Field(default=166.0, gt=0)

    # Other sinks
    warehouse_dsn: SecretStr | None = None
    webhook_sink_url: str | None = None
    webhook_sink_secret: SecretStr | None = None
    audiences_url: str | None = None
    audiences_token: SecretStr | None = None
    audiences_rate_per_s: float = Field(default=10.0, gt=0)
    webhook_sink_rate_per_s: float = Field(default=50.0, gt=0)
    warehouse_schema: str = Field(default="supportsync", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    #: comma-separated sinks this worker runs ("" runs none: the pipeline stops at out.*);
    #: unset: every destination with credentials (embedded mode: all, the others in dry-run)
    sinks: str | None = None
    #: comma-separated destinations actions are built for; unset: every destination with
    #: credentials, plus those SINKS names (embedded mode: all)
    destinations: str | None = None
    sink_coalesce_ms: float = Field(default=0.0, ge=0)
    sink_retry_deadline_s: float = Field(default=300.0, gt=0)

    @field_validator("customerio_identifier")
    @classmethod
    def _identifier_kind(cls, value: str) -> str:
        allowed = {"email", "external_id", "cio_id", "customer_key"}
        if value not in allowed:
            raise ValueError(f"must be one of {sorted(allowed)}")
        return value

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = sorted(set(names) - set(SOURCE_SECRETS))
        if unknown:
            raise ValueError(f"unknown sources {unknown}; known: {sorted(SOURCE_SECRETS)}")
        return ",".join(names)

    @field_validator(*SOURCE_SECRETS.values(), "admin_token")
    @classmethod
    def _usable_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        # A source's secret may list several, comma-separated: each one counts.
        parts = [part.strip() for part in value.get_secret_value().split(",")]
        if not any(parts):
            raise ValueError("is empty: set a secret, or leave the variable unset")
        if any(part.lower() in REFUSED_SECRETS for part in parts):
            raise ValueError("is a well-known default value: choose your own secret")
        return value

    @field_validator("admin_token")
    @classmethod
    def _long_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < ADMIN_TOKEN_MIN_CHARS:
            raise ValueError(f"must be at least {ADMIN_TOKEN_MIN_CHARS} characters")
        return value

    @field_validator("sinks", "destinations")
    @classmethod
    def _known_sinks(cls, value: str | None) -> str | None:
        if value is None:
            return None
        known = set(SINK_NAMES)
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = sorted(set(names) - known)
        if unknown:
            raise ValueError(f"unknown sinks {unknown}; known: {sorted(known)}")
        return ",".join(names)

    @model_validator(mode="after")
    def _bodies_fit_records(self) -> Settings:
        if self.max_body_bytes + BODY_HEADROOM_BYTES > self.kafka_max_request_bytes:
            raise ValueError(
                f"SUPPORTSYNC_MAX_BODY_BYTES ({self.max_body_bytes}) must be at most "
                f"SUPPORTSYNC_KAFKA_MAX_REQUEST_BYTES ({self.kafka_max_request_bytes}) minus "
                f"{BODY_HEADROOM_BYTES}: an accepted body must fit in one record"
            )
        return self

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
            and self.kafka_sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"SUPPORTSYNC_KAFKA_SASL_USERNAME and SUPPORTSYNC_KAFKA_SASL_PASSWORD are "
                f"required with SUPPORTSYNC_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}"
            )
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"SUPPORTSYNC_{name.upper()}: no such file: {path}")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError(
                "SUPPORTSYNC_KAFKA_SSL_CERTFILE and SUPPORTSYNC_KAFKA_SSL_KEYFILE go together"
            )
        return self

    @model_validator(mode="after")
    def _admin_reachable_only_with_token(self) -> Settings:
        if not is_loopback(self.admin_host) and self.admin_token is None:
            raise ValueError(
                f"SUPPORTSYNC_ADMIN_TOKEN is required when SUPPORTSYNC_ADMIN_HOST "
                f"({self.admin_host}) is not a loopback address: the admin listener serves "
                "customers' state"
            )
        return self

    @property
    def table_store(self) -> str:
        if self.store:
            return self.store
        return "memory://" if self.embedded else "rocksdb://"

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.sources.split(",") if n)

    @property
    def sink_names(self) -> tuple[str, ...]:
        """The sinks this worker runs: `SUPPORTSYNC_SINKS`, else the routed destinations."""
        if self.sinks is None:
            return self.routed_sinks
        return tuple(n for n in self.sinks.split(",") if n)

    @property
    def destination_names(self) -> tuple[str, ...]:
        """What the router builds actions for: DESTINATIONS if set, else the routed sinks."""
        if self.destinations is not None:
            return tuple(n for n in self.destinations.split(",") if n)
        return self.routed_sinks

    @property
    def configured_sinks(self) -> tuple[str, ...]:
        """The destinations whose credentials (or endpoint) are set."""
        configured = {
            "customerio": self.customerio_configured,
            "zendesk": self.zendesk_configured,
            "intercom": self.intercom_access_token is not None,
            "webhook": bool(self.webhook_sink_url and self.webhook_sink_secret),
            "audiences": bool(self.audiences_url),
            "warehouse": self.warehouse_dsn is not None,
        }
        return tuple(name for name in SINK_NAMES if configured[name])

    @property
    def routed_sinks(self) -> tuple[str, ...]:
        """The destinations routing makes actions for: in embedded mode all of them (those
        without credentials run in dry-run), else those with credentials plus the ones
        `SUPPORTSYNC_SINKS` names (another worker may run a sink this one does not)."""
        if self.embedded:
            return SINK_NAMES
        named = set(n for n in (self.sinks or "").split(",") if n)
        return tuple(n for n in SINK_NAMES if n in named or n in self.configured_sinks)

    @property
    def embedded(self) -> bool:
        return not self.kafka_bootstrap_servers

    @property
    def zendesk_url(self) -> str | None:
        if self.zendesk_base_url:
            return self.zendesk_base_url.rstrip("/")
        if self.zendesk_subdomain:
            return f"https://{self.zendesk_subdomain}.zendesk.com"
        return None

    @property
    def customerio_track_base(self) -> str:
        if self.customerio_region == "eu" and self.customerio_track_url == US_TRACK_URL:
            return EU_TRACK_URL
        return self.customerio_track_url

    @property
    def customerio_app_base(self) -> str:
        if self.customerio_region == "eu" and self.customerio_app_url == US_APP_URL:
            return EU_APP_URL
        return self.customerio_app_url

    @property
    def customerio_configured(self) -> bool:
        return bool(self.customerio_site_id and self.customerio_api_key)

    @property
    def zendesk_configured(self) -> bool:
        return bool(self.zendesk_url and self.zendesk_email and self.zendesk_api_token)

    def secret_values(self, name: str) -> tuple[str, ...]:
        """The secrets of an inbound secret setting, split at commas (blanks dropped)."""
        value = getattr(self, name)
        if value is None:
            return ()
        text = value.get_secret_value()
        return tuple(part.strip() for part in text.split(",") if part.strip())

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def check_serving(self) -> None:
        """What `run` needs beyond valid values: outside embedded mode, the secret of every
        enabled source (none is generated against a real cluster). ConfigError names them."""
        if self.embedded:
            return  # missing ones are generated (with_dev_secrets)
        missing = [
            f"SUPPORTSYNC_{SOURCE_SECRETS[name].upper()}"
            for name in self.source_names
            if getattr(self, SOURCE_SECRETS[name]) is None
        ]
        if missing:
            raise ConfigError(
                f"invalid configuration: {', '.join(missing)} must be set (with a Kafka cluster "
                "configured, secrets are never generated); or leave the source out of "
                "SUPPORTSYNC_SOURCES"
            )

    def with_dev_secrets(self) -> tuple[Settings, dict[str, str]]:
        """Fill unset secrets of the enabled sources with random ones (embedded mode only)."""
        generated: dict[str, str] = {}
        updates: dict[str, SecretStr] = {}
        for field in (SOURCE_SECRETS[name] for name in self.source_names):
            if getattr(self, field) is None:
                value = secrets.token_urlsafe(24)
                generated[field] = value
                updates[field] = SecretStr(value)
        return self.model_copy(update=updates), generated


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; a bad value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            if not field:  # a rule across settings: its message names them
                problems.append(str(err["msg"]).removeprefix("Value error, "))
                continue
            problems.append(f"SUPPORTSYNC_{field.upper()}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from exc
