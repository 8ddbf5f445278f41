"""The service's Prometheus metrics, and the small functions the rest of the code records them with.

Every metric family the service exports is declared here, once (docs/operations.md
lists them for SREs). Names and labels follow the
OpenTelemetry semantic conventions as Prometheus spells them
(`http.server.request.duration` in seconds becomes
`http_server_request_duration_seconds`, `http.route` becomes `http_route`);
what is HALO's own starts with `halo_`.

The route label is the route *template* (`/api/v1/videos/<video_id:int>`);
requests that match no route share `unmatched`, and unknown methods share
`_OTHER`, so no client can create label values.

Across Sanic workers the values are added up by prometheus-client's
multiprocess mode (see `halo.observability.multiprocess`); each gauge says
how its workers' values combine (`livesum`: summed over live workers;
`livemax`/`max`: the largest).
"""

from __future__ import annotations

import platform
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

# The OpenTelemetry HTTP semantic conventions' recommended boundaries, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
UNMATCHED_ROUTE = "unmatched"
OTHER_METHOD = "_OTHER"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


class Metrics:
    """The metric families, registered in one registry (the default one unless told)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.request_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.active_requests = Gauge(
            "http_server_active_requests",
            "Number of HTTP server requests being handled.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.rate_limited = Counter(
            "halo_rate_limited_requests",
            "Requests refused with 429 by the per-client rate limit.",
            registry=registry,
        )
        self.auth_failures = Counter(
            "halo_auth_failures",
            "Authentication failures (401), by reason.",
            ["reason"],
            registry=registry,
        )
        self.db_connections = Gauge(
            "db_client_connection_count",
            "Open database connections, by state (used or idle).",
            ["db_client_connection_pool_name", "db_client_connection_state"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.db_connections_max = Gauge(
            "db_client_connection_max",
            "The most database connections the pools may open.",
            ["db_client_connection_pool_name"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.redis_errors = Counter(
            "halo_redis_errors",
            "Redis calls that failed (commands and the health probe).",
            registry=registry,
        )
        self.view_flush_batches = Counter(
            "halo_view_flush_batches",
            "Successful flushes of pending views from Redis to PostgreSQL.",
            registry=registry,
        )
        self.view_flush_views = Counter(
            "halo_view_flush_views", "Views moved from Redis to PostgreSQL.", registry=registry
        )
        self.view_flush_videos = Counter(
            "halo_view_flush_videos", "Video rows updated by view flushes.", registry=registry
        )
        self.view_flush_failures = Counter(
            "halo_view_flush_failures",
            "View flushes that failed; their views stay pending in Redis.",
            registry=registry,
        )
        self.view_flush_lag = Gauge(
            "halo_view_flush_lag_seconds",
            "Age of the oldest view moved by the last flush (0 when nothing was pending).",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.view_flush_last_success = Gauge(
            "halo_view_flush_last_success_timestamp_seconds",
            "Unix time of the last successful view flush (0 until the first).",
            multiprocess_mode="max",
            registry=registry,
        )
        self.websocket_connections = Gauge(
            "halo_websocket_connections",
            "Open live-engagement WebSockets.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.websocket_messages = Counter(
            "halo_websocket_messages",
            "Messages sent on live-engagement WebSockets.",
            registry=registry,
        )
        self.websocket_closed = Counter(
            "halo_websocket_closed",
            "Live-engagement WebSockets closed, by close code (4408: dropped as too slow).",
            ["code"],
            registry=registry,
        )
        self.comments_moderated = Counter(
            "halo_comments_moderated",
            "Comments held for the video owner's approval (event=held) and held comments approved "
            "(event=approved); held minus approved is the queue's growth.",
            ["event"],
            registry=registry,
        )
        self.trending_refreshes = Counter(
            "halo_trending_refreshes",
            "Trending refresh turns, by outcome: built (this worker held the fleet's lease and built a "
            "ranking), skipped (another worker holds it), failed.",
            ["outcome"],
            registry=registry,
        )
        self.trending_refresh_duration = Histogram(
            "halo_trending_refresh_duration_seconds",
            "Time to build a trending ranking (outcome built).",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.trending_last_built = Gauge(
            "halo_trending_last_built_timestamp_seconds",
            "Unix time the last trending ranking was built by this instance's workers (0 until one is).",
            multiprocess_mode="max",
            registry=registry,
        )
        self.db_reads = Counter(
            "halo_db_reads",
            "Repository reads by the pool that served them (primary or a read replica).",
            ["pool", "role"],
            registry=registry,
        )
        self.db_pool_up = Gauge(
            "halo_db_pool_up",
            "1 while every worker routes reads to this pool (a replica that is up and within the lag bound).",
            ["pool", "role"],
            multiprocess_mode="livemin",
            registry=registry,
        )
        self.db_replica_lag = Gauge(
            "halo_db_replica_lag_seconds",
            "How far each read replica is behind the primary as the workers measure it (the primary: 0).",
            ["pool"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.db_replica_fallbacks = Counter(
            "halo_db_replica_fallbacks",
            "Reads sent to the primary though replicas are configured, by reason.",
            ["reason"],
            registry=registry,
        )
        # every label value exported from the start (at zero), as the fixed sets they are
        for reason in ("lag", "down", "read_your_writes"):
            self.db_replica_fallbacks.labels(reason)
        for event in ("held", "approved"):
            self.comments_moderated.labels(event)
        for outcome in ("built", "skipped", "failed"):
            self.trending_refreshes.labels(outcome)
        for code in WEBSOCKET_CLOSE_CODES:
            self.websocket_closed.labels(str(code))
        self.build_info = Gauge(
            "halo_build_info",
            "The running build; always 1.",
            ["version", "python_version"],
            multiprocess_mode="max",
            registry=registry,
        )


_metrics: Metrics | None = None


def metrics() -> Metrics:
    """The process's metric families, created on first use (never at import time)."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


def normalise_method(method: str) -> str:
    """The method as a bounded label value (OpenTelemetry: unknown methods are `_OTHER`)."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


# --- what the rest of the service calls ---------------------------------------


def record_view_flush(views: int, videos: int, lag_seconds: float) -> None:
    """After every successful flush cycle, also one that found nothing pending (views=0).

    `lag_seconds` is the age of the oldest view the flush moved (0 when none):
    how far PostgreSQL's `view_count` was behind.
    """
    family = metrics()
    family.view_flush_batches.inc()
    family.view_flush_views.inc(views)
    family.view_flush_videos.inc(videos)
    family.view_flush_lag.set(max(0.0, lag_seconds))
    family.view_flush_last_success.set(time.time())


def record_view_flush_failure() -> None:
    """When a flush cycle fails (the views stay pending for the next one)."""
    metrics().view_flush_failures.inc()


def record_comment_moderation(event: str) -> None:
    """`event` is `held` or `approved` (a fixed set in the code)."""
    metrics().comments_moderated.labels(event).inc()


def record_trending_refresh(outcome: str, seconds: float) -> None:
    """`outcome` is `built`, `skipped` or `failed` (a fixed set in the code)."""
    family = metrics()
    family.trending_refreshes.labels(outcome).inc()
    if outcome == "built":
        family.trending_refresh_duration.observe(seconds)
        family.trending_last_built.set(time.time())


def record_redis_error() -> None:
    metrics().redis_errors.inc()


def record_websocket_opened() -> None:
    metrics().websocket_connections.inc()


def record_websocket_message() -> None:
    metrics().websocket_messages.inc()


WEBSOCKET_CLOSE_CODES = (1000, 1001, 4401, 4404, 4408)  # the service's own, as documented in api/live.py


def record_websocket_closed(code: int) -> None:
    """`code` is one of the service's own close codes (a fixed set), never a client's."""
    family = metrics()
    family.websocket_connections.dec()
    family.websocket_closed.labels(str(code)).inc()


def record_rate_limited() -> None:
    metrics().rate_limited.inc()


def record_auth_failure(reason: str) -> None:
    """`reason` comes from a fixed set in the code (`InvalidToken`, `Unauthorized`), never from a client."""
    metrics().auth_failures.labels(reason).inc()


def set_database_pool(pool: str, *, used: int, idle: int, maximum: int) -> None:
    family = metrics()
    family.db_connections.labels(pool, "used").set(used)
    family.db_connections.labels(pool, "idle").set(idle)
    family.db_connections_max.labels(pool).set(maximum)


def record_db_read(pool: str, role: str) -> None:
    """`pool` is `primary` or a replica's `replica<N>` (from the configuration, never a client)."""
    metrics().db_reads.labels(pool, role).inc()


def record_replica_fallback(reason: str) -> None:
    """`reason` is `lag`, `down` or `read_your_writes` (a fixed set in the code)."""
    metrics().db_replica_fallbacks.labels(reason).inc()


def set_primary_pool() -> None:
    """At worker start: the primary's series (it always takes reads, and is behind no one)."""
    family = metrics()
    family.db_reads.labels("primary", "primary")
    family.db_pool_up.labels("primary", "primary").set(1)
    family.db_replica_lag.labels("primary").set(0)


def set_replica_state(pool: str, *, up: bool, lag_seconds: float) -> None:
    family = metrics()
    family.db_pool_up.labels(pool, "replica").set(1 if up else 0)
    if lag_seconds != float("inf"):  # unknown until the primary and the replica have both answered
        family.db_replica_lag.labels(pool).set(lag_seconds)


def set_build_info(version: str) -> None:
    metrics().build_info.labels(version, platform.python_version()).set(1)
