"""One settings object, read from the environment once and validated at start.

Every variable is listed in docs/operations.md's configuration table. Nothing else in
the package reads the environment: `create_app(settings)` and the CLI pass
this object down.
"""

from __future__ import annotations

import ipaddress
import os
from contextvars import ContextVar
from functools import cached_property
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from halo.published_secrets import MIN_SECRET_BITS, estimated_bits, is_published

DEV_JWT_SECRET = "halo-development-only-secret-do-not-use-in-production"  # noqa: S105 - refused outside ENV=development
MIN_SECRET_BYTES = 32
MIN_PRODUCTION_BCRYPT_ROUNDS = 10
# False while loading settings for a command that signs no token (migrate, seed).
_signing_tokens: ContextVar[bool] = ContextVar("halo_signing_tokens", default=True)
SQLITE_DEFAULT_URL = "sqlite://halo.db"
DEFAULT_SAMPLE_RATIO = 0.1  # OTEL_TRACES_SAMPLER_ARG when unset

CommaList = Annotated[list[str], NoDecode]
Sampler = Literal[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]


def available_cpus() -> int:
    """CPUs this process may use: the cgroup v2/v1 quota when set, else the affinity mask."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def _cgroup_cpu_quota() -> int | None:
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:  # cgroup v2: "max 100000" or "150000 100000"
            quota, period = f.read().split()[:2]
        if quota != "max":
            return max(1, -(-int(quota) // int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota_us = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period_us = int(f.read())
        if quota_us > 0 and period_us > 0:
            return max(1, -(-quota_us // period_us))
    except (OSError, ValueError):
        pass
    return None


class Settings(BaseSettings):
    """Service configuration. Field names are the environment variable names, lower-cased."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    env: Literal["development", "production"] = "production"
    host: str = "0.0.0.0"
    port: int = Field(8000, ge=1, le=65535)
    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_host: str = Field("0.0.0.0", min_length=1)
    workers: int | None = Field(None, ge=1, le=256)

    database_url: str = SQLITE_DEFAULT_URL
    database_pool_min: int = Field(2, ge=0, le=1000)
    database_pool_max: int = Field(20, ge=1, le=1000)
    database_timeout_seconds: float = Field(5.0, gt=0, le=300)
    # Streaming replicas for reads (halo.db.replicas); each worker opens a pool of DATABASE_POOL_MAX to each.
    database_replica_urls: CommaList = []
    replica_max_lag_seconds: float = Field(5.0, gt=0, le=3600)
    # The share of the reads a replica could take that the primary keeps (spreads them over all).
    replica_primary_read_share: float = Field(0.0, ge=0, lt=1)
    # A transaction-mode pooler between HALO and PostgreSQL (docs/operations.md#behind-pgbouncer):
    # "pgbouncer" turns off asyncpg's statement cache, whose named statements live on one server connection.
    database_pooler: Literal["none", "pgbouncer"] = "none"
    # `halo migrate` connects here when set: a direct connection (the migration lock is a session's).
    database_migration_url: SecretStr | None = None

    redis_url: str | None = None
    redis_pool_max: int = Field(64, ge=1, le=10000)
    redis_timeout_seconds: float = Field(1.0, gt=0, le=60)
    redis_cluster: bool = False

    shutdown_timeout_seconds: float = Field(15.0, ge=0, le=3600)
    shutdown_delay_seconds: float = Field(0.0, ge=0, le=600)
    request_timeout_seconds: float = Field(30.0, gt=0, le=3600)

    jwt_secret: str | None = None
    jwt_previous_secrets: CommaList = []
    jwt_ttl_seconds: int = Field(86400, ge=60, le=30 * 86400)
    jwt_issuer: str = Field("halo", min_length=1)
    jwt_audience: str = Field("halo-api", min_length=1)

    bcrypt_rounds: int = Field(12, ge=4, le=31)
    bcrypt_threads: int | None = Field(None, ge=1, le=64)
    bcrypt_niceness: int = Field(10, ge=0, le=19)
    password_queue_max: int = Field(64, ge=0, le=100_000)

    rate_limit_rps: float = Field(1000.0, gt=0)
    rate_limit_burst: int = Field(2000, ge=1)
    rate_limit_backend: Literal["local", "redis"] = "local"
    rate_limit_max_clients: int = Field(100_000, ge=100)
    login_failure_window_seconds: int = Field(900, ge=1, le=86400)
    login_max_failures_per_account_ip: int = Field(5, ge=1)
    login_max_failures_per_account: int = Field(20, ge=1)
    login_max_failures_per_ip: int = Field(100, ge=1)
    register_max_per_ip: int = Field(20, ge=1)
    trusted_proxies: CommaList = []
    cors_origins: CommaList = []
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=1024 * 1024 * 1024)

    presence_ttl_seconds: int = Field(30, ge=1, le=86400)
    view_window_seconds: int = Field(1800, ge=0, le=7 * 86400)
    trending_refresh_seconds: float = Field(60.0, ge=1, le=3600)
    video_cache_size: int = Field(20_000, ge=0, le=10_000_000)
    # Short: a lost change notice (an adult flag, a deletion) is served stale at most this long.
    video_cache_ttl_seconds: float = Field(60.0, gt=0, le=3600)
    view_flush_interval_seconds: float = Field(5.0, gt=0, le=3600)

    ws_max_connections: int = Field(10_000, ge=1, le=1_000_000)
    ws_max_connections_per_ip: int = Field(50, ge=1, le=1_000_000)
    ws_ping_interval_seconds: float = Field(20.0, ge=0, le=3600)
    ws_send_timeout_seconds: float = Field(5.0, gt=0, le=600)
    ws_auth_recheck_seconds: float = Field(30.0, gt=0, le=86400)
    live_update_interval_seconds: float = Field(0.25, ge=0.01, le=60)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "text"] | None = None

    # Speed tricks that reach into Sanic's and prometheus-client's private parts (halo.http.fastpath);
    # off by itself, with one warning, on versions it was not written for.
    fast_path: bool = True

    # Metrics: every worker writes its samples to files in this directory and the
    # metrics endpoint adds them up (prometheus-client's multiprocess mode).
    prometheus_multiproc_dir: str | None = None

    # Tracing, through the standard OpenTelemetry variables. The exporter reads the
    # rest of its own (headers, timeout, certificate, compression) from OTEL_EXPORTER_OTLP_*.
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_traces_endpoint: str | None = None
    otel_exporter_otlp_protocol: Literal["http/protobuf"] | None = None
    otel_exporter_otlp_traces_protocol: Literal["http/protobuf"] | None = None
    otel_traces_exporter: Literal["otlp", "none"] = "otlp"
    otel_sdk_disabled: bool = False
    otel_service_name: str = Field("halo", min_length=1)
    # Parent-based ratio by default: a caller's decision is followed, and a tenth of the requests
    # that come without one start a sampled trace (the specification's default ratio, 1.0, would
    # trace every request and cost most of the throughput: docs/operations.md#tracing).
    otel_traces_sampler: Sampler = "parentbased_traceidratio"
    otel_traces_sampler_arg: float = Field(DEFAULT_SAMPLE_RATIO, ge=0.0, le=1.0, allow_inf_nan=False)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "jwt_previous_secrets", "trusted_proxies", "cors_origins", "database_replica_urls", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "otel_exporter_otlp_endpoint",
        "otel_exporter_otlp_traces_endpoint",
        "otel_exporter_otlp_protocol",
        "otel_exporter_otlp_traces_protocol",
        "prometheus_multiproc_dir",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("otel_traces_sampler_arg", mode="before")
    @classmethod
    def _ratio(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if not value:  # set but empty: the default, as for an unset variable
                return DEFAULT_SAMPLE_RATIO
            try:
                return float(value)
            except ValueError:
                raise ValueError(
                    f"must be a number from 0 to 1 (the sampling ratio), not {value!r}"
                ) from None
        return value

    @field_validator("otel_traces_sampler", "otel_traces_exporter", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str) -> str:
        value = value.strip() or SQLITE_DEFAULT_URL
        if value.startswith("postgresql://"):
            value = "postgres://" + value[len("postgresql://") :]
        if not value.startswith(("postgres://", "sqlite://")):
            raise ValueError("must start with postgres://, postgresql:// or sqlite://")
        return value

    @field_validator("database_migration_url", mode="before")
    @classmethod
    def _migration_url(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None
        if value.startswith("postgresql://"):
            value = "postgres://" + value[len("postgresql://") :]
        if not value.startswith("postgres://"):
            raise ValueError("must start with postgres:// or postgresql://")
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _replica_schemes(cls, value: list[str]) -> list[str]:
        urls = []
        for url in value:
            if url.startswith("postgresql://"):
                url = "postgres://" + url[len("postgresql://") :]
            if not url.startswith("postgres://"):
                raise ValueError("each replica URL must start with postgres:// or postgresql://")
            urls.append(url)
        return urls

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value.strip()

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        if _signing_tokens.get():
            self._check_secrets()
        if self.env == "production" and self.bcrypt_rounds < MIN_PRODUCTION_BCRYPT_ROUNDS:
            raise ValueError(f"BCRYPT_ROUNDS must be at least {MIN_PRODUCTION_BCRYPT_ROUNDS} in production")
        if self.database_pool_min > self.database_pool_max:
            raise ValueError("DATABASE_POOL_MIN must not exceed DATABASE_POOL_MAX")
        if self.redis_url is None and self.workers not in (None, 1):
            raise ValueError("WORKERS > 1 needs REDIS_URL (the in-process engagement store is per process)")
        if self.is_sqlite and self.workers not in (None, 1):
            raise ValueError(
                "WORKERS > 1 needs a PostgreSQL DATABASE_URL (SQLite is the single-process default)"
            )
        if (self.database_pooler != "none" or self.database_migration_url is not None) and self.is_sqlite:
            raise ValueError("DATABASE_POOLER and DATABASE_MIGRATION_URL need a PostgreSQL DATABASE_URL")
        if self.database_replica_urls and self.is_sqlite:
            raise ValueError("DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL")
        if self.rate_limit_backend == "redis" and self.redis_url is None:
            raise ValueError("RATE_LIMIT_BACKEND=redis needs REDIS_URL")
        if self.redis_cluster and self.redis_url is None:
            raise ValueError("REDIS_CLUSTER=true needs REDIS_URL")
        if self.redis_cluster and self.redis_url is not None:
            parts = urlsplit(self.redis_url)
            if parts.scheme == "unix":
                raise ValueError("REDIS_CLUSTER=true needs a node's redis:// or rediss:// address")
            if parts.path.strip("/") not in ("", "0"):
                raise ValueError("REDIS_CLUSTER=true: a Redis Cluster has only database 0")
        return self

    def _check_secrets(self) -> None:
        if self.env != "development" and not self.jwt_secret:
            raise ValueError("JWT_SECRET is required outside ENV=development")
        if self.jwt_secret is not None and len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        for secret in self.jwt_previous_secrets:
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(f"each JWT_PREVIOUS_SECRETS entry must be at least {MIN_SECRET_BYTES} bytes")
        if self.env != "production":
            return
        named = [("JWT_SECRET", self.jwt_secret or "")]
        named += [("JWT_PREVIOUS_SECRETS", secret) for secret in self.jwt_previous_secrets]
        for name, secret in named:
            if is_published(secret):
                raise ValueError(
                    f"{name} is a published value (it appears in HALO's repository); "
                    "generate one, e.g. `openssl rand -base64 48`"
                )
            if estimated_bits(secret) < MIN_SECRET_BITS:
                raise ValueError(
                    f"{name} is too guessable (under {MIN_SECRET_BITS} bits of entropy); "
                    "generate one, e.g. `openssl rand -base64 48`"
                )

    # Derived values: computed once, never re-read from the environment.

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    @property
    def effective_jwt_secret(self) -> str:
        return self.jwt_secret or DEV_JWT_SECRET

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("text" if self.is_development else "json")

    @property
    def tracing_enabled(self) -> bool:
        """Tracing is on only when an OTLP endpoint is configured (and not switched off)."""
        endpoint = self.otel_exporter_otlp_traces_endpoint or self.otel_exporter_otlp_endpoint
        return bool(endpoint) and not self.otel_sdk_disabled and self.otel_traces_exporter == "otlp"

    @property
    def metrics_enabled(self) -> bool:
        return self.metrics_port != 0

    @cached_property
    def effective_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        if self.redis_url is None or self.is_sqlite:
            return 1
        return available_cpus()

    @cached_property
    def ws_max_connections_per_worker(self) -> int:
        """WS_MAX_CONNECTIONS for a worker that counts alone: all of it with one worker, else its share
        (rounded up; workers count together in the instance's table, halo.services.live_places)."""
        return -(-self.ws_max_connections // self.effective_workers)

    @cached_property
    def ws_max_connections_per_ip_per_worker(self) -> int:
        """WS_MAX_CONNECTIONS_PER_IP for a worker that counts alone, as above."""
        return -(-self.ws_max_connections_per_ip // self.effective_workers)

    @cached_property
    def effective_bcrypt_threads(self) -> int:
        return self.bcrypt_threads or available_cpus()


def format_validation_error(error: ValidationError) -> str:
    """One line naming each bad variable, for operators reading a crash-looping pod's log."""
    parts = []
    for item in error.errors():
        name = ".".join(str(p) for p in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{name}: {message}" if name else message)
    return "invalid configuration: " + "; ".join(parts)


def load_settings(*, signs_tokens: bool = True, **overrides: object) -> Settings:
    """Read the environment once. Raises pydantic.ValidationError on bad values.

    `signs_tokens=False` (migrate, seed) skips the checks of JWT_SECRET: those commands never use it."""
    reset = _signing_tokens.set(signs_tokens)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    finally:
        _signing_tokens.reset(reset)
