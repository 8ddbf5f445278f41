"""`create_app(settings)`: the one place that wires the service together.

Each Sanic worker process calls it once; per-worker resources (database pool,
Redis client, background tasks) open in `before_server_start` and close in
`after_server_stop`, after in-flight requests have drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sanic import Sanic
from sanic.response import HTTPResponse
from sanic_ext.extensions.http.extension import HTTPExtension

from halo import __version__
from halo.api import auth as auth_api
from halo.api import comments as comments_api
from halo.api import docs as docs_api
from halo.api import engagement as engagement_api
from halo.api import health as health_api
from halo.api import live as live_api
from halo.api import root as root_api
from halo.api import videos as videos_api
from halo.api.live import LiveAdmission
from halo.config import Settings
from halo.db import database, replicas
from halo.db.replicas import MemoryWritePositions, ReplicaRouter
from halo.engagement.memory_store import MemoryEngagementStore
from halo.engagement.redis_store import RedisEngagementStore
from halo.engagement.store import EngagementStore
from halo.http import fastpath
from halo.middleware import compression, cors, draining, headers, limits, request_id
from halo.middleware.access_log import AccessLog
from halo.middleware.auth import BearerAuth
from halo.middleware.client_ip import ClientIpResolver
from halo.middleware.errors import EnvelopeErrorHandler
from halo.middleware.metrics import PUBLISH_SECONDS, RequestMetrics
from halo.middleware.pipeline import RequestPipeline, RequestStep, ResponsePipeline, ResponseStep
from halo.middleware.rate_limit import RateLimitMiddleware
from halo.middleware.ratelimit_fields import RateLimitFields
from halo.observability import metrics
from halo.observability.logging import configure_logging
from halo.redis.event_bus import EventBus, LocalEventBus, RedisEventBus
from halo.redis.idempotency import idempotency_store_for
from halo.redis.link import RedisLink, StoreUnavailable, link_for
from halo.redis.live_signals import LiveSignals, LocalLiveSignals, RedisLiveSignals
from halo.redis.login_throttle import ThrottleLimits, throttle_for
from halo.redis.rate_limit import RedisRateLimiter
from halo.redis.registration_limit import registration_limit_for
from halo.redis.revocation_cache import (
    MemoryRevocationCache,
    RedisRevocationCache,
    RevocationCache,
    warn_if_evictable,
)
from halo.redis.write_positions import RedisWritePositions
from halo.repositories.base import translate_errors
from halo.repositories.comments import CommentRepository
from halo.repositories.engagement import EngagementRepository
from halo.repositories.errors import DatabaseUnavailable
from halo.repositories.health import DatabaseProbe
from halo.repositories.revocations import RevocationRepository
from halo.repositories.users import UserRepository
from halo.repositories.videos import VideoRepository
from halo.security.cursors import CursorCodec
from halo.security.passwords import PasswordHasher
from halo.security.shared_buckets import BucketTable
from halo.security.token_bucket import LocalRateLimiter, RateLimiter, TokenBucketLimiter
from halo.security.tokens import TokenCodec
from halo.services.auth import AuthService
from halo.services.comments import CommentService
from halo.services.engagement import CounterMerge, EngagementService
from halo.services.first_pages import FirstPages
from halo.services.health import HealthService
from halo.services.idempotency import IdempotencyService
from halo.services.live import LiveHub
from halo.services.live_places import PlaceTable, SharedPlaces
from halo.services.trending import TrendingRanking
from halo.services.video_cache import VideoCache
from halo.services.videos import VideoService
from halo.services.view_flush import ViewFlusher

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from halo.middleware.tracing import ServerSpans
    from halo.observability.tracing import Tracing

log = logging.getLogger("halo")

READY_RETRY_SECONDS = 2.0
PRUNE_INTERVAL_SECONDS = 600.0
REVOCATION_CATCH_UP_SECONDS = 1.0  # a logout lost on its way to Redis is refused everywhere within about this
POOL_SAMPLE_SECONDS = 5.0

T = TypeVar("T")


@dataclass
class AppState:
    ready: bool = False
    draining: bool = False
    # Migrations are pending: a request that fails on the missing schema is a 503, not a crash.
    schema_behind: bool = False


@dataclass
class Services:
    auth: AuthService
    health: HealthService
    videos: VideoService
    engagement: EngagementService
    comments: CommentService
    trending: TrendingRanking
    view_flusher: ViewFlusher
    live: LiveHub
    idempotency: IdempotencyService


@dataclass
class Resources:
    """What a worker opens at start and closes at stop."""

    hasher: PasswordHasher
    link: RedisLink | None
    events: EventBus
    signals: LiveSignals
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    tracing: Tracing | None = None
    replicas: ReplicaRouter | None = None


@dataclass
class Observability:
    """What tracing needs at worker start: None when tracing is off."""

    spans: ServerSpans | None = None
    span_exporter: SpanExporter | None = None


def create_app(settings: Settings, *, span_exporter: SpanExporter | None = None) -> Sanic:
    """The service for one worker. `span_exporter` turns tracing on with that exporter instead of
    OTLP (tests use the SDK's in-memory one); otherwise tracing follows the OTEL_* variables."""
    configure_logging(settings.log_level, settings.effective_log_format)
    error_handler = EnvelopeErrorHandler(unavailable=(DatabaseUnavailable, StoreUnavailable))
    # Every 401 passes the error handler, whichever layer refused (token, missing token, login).
    error_handler.on_unauthorized.append(metrics.record_auth_failure)
    fast = fastpath.install(settings.fast_path)
    app = Sanic("halo", error_handler=error_handler, configure_logging=False)
    app.config.update(
        {
            "REQUEST_MAX_SIZE": settings.max_body_bytes,
            "REQUEST_MAX_HEADER_SIZE": limits.MAX_HEAD,
            "REQUEST_TIMEOUT": settings.request_timeout_seconds,
            "RESPONSE_TIMEOUT": max(60.0, settings.request_timeout_seconds),
            "KEEP_ALIVE_TIMEOUT": 75,
            "GRACEFUL_SHUTDOWN_TIMEOUT": settings.shutdown_timeout_seconds,
            "FALLBACK_ERROR_FORMAT": "json",
            "ACCESS_LOG": False,
            "MOTD": settings.is_development,
            "NOISY_EXCEPTIONS": False,
            "TOUCHUP": True,
            "WEBSOCKET_PING_INTERVAL": settings.ws_ping_interval_seconds or None,
            "WEBSOCKET_PING_TIMEOUT": settings.ws_ping_interval_seconds or None,
            "WEBSOCKET_MAX_SIZE": 64 * 1024,  # clients have nothing to send: their messages are ignored
        }
    )
    app.ctx.settings = settings
    app.ctx.state = AppState()
    # Set before any WebSocket route exists, so that Sanic does not add its own stop listener that
    # cancels every socket at once (a close code 1000, at the very start of the drain): the service
    # closes them itself with 1001, after SHUTDOWN_DELAY_SECONDS, in `start_draining`.
    app.websocket_enabled = True

    hasher = PasswordHasher(
        settings.bcrypt_rounds,
        threads=settings.effective_bcrypt_threads,
        niceness=settings.bcrypt_niceness,
        queue_max=settings.password_queue_max,
    )
    link = link_for(settings) if settings.redis_url else None
    if link is not None:
        link.on_error(metrics.record_redis_error)
    revocation_cache: RevocationCache = RedisRevocationCache(link) if link else MemoryRevocationCache()
    # Applied view batches stay readable longer than any reader may hold an older copy of the row.
    retention = max(30.0, 3 * settings.view_flush_interval_seconds, settings.video_cache_ttl_seconds + 10)
    signals: LiveSignals
    store: EngagementStore
    if link is not None:
        signals = RedisLiveSignals(link)  # the store's scripts publish on the live channels
        store = RedisEngagementStore(link, batch_retention_seconds=retention)
    else:
        local_signals = signals = LocalLiveSignals()
        store = MemoryEngagementStore(batch_retention_seconds=retention, on_change=local_signals.notify)
    events: EventBus = RedisEventBus(link) if link else LocalEventBus()
    engagement = EngagementRepository()
    tokens = TokenCodec(
        settings.effective_jwt_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_ttl_seconds,
        previous_secrets=tuple(settings.jwt_previous_secrets),
    )
    cursors = CursorCodec(settings.effective_jwt_secret)
    counters = CounterMerge(store, engagement)
    trending = TrendingRanking(
        store=store,
        videos=VideoRepository(),
        cursors=cursors,
        refresh_seconds=settings.trending_refresh_seconds,
    )
    videos = VideoService(
        videos=VideoRepository(),
        counters=counters,
        store=store,
        cursors=cursors,
        cache=VideoCache(size=settings.video_cache_size, ttl_seconds=settings.video_cache_ttl_seconds),
        events=events,
        trending=trending,
        pages=FirstPages(),
    )
    services = Services(
        auth=AuthService(
            users=UserRepository(),
            revocations=RevocationRepository(),
            revocation_cache=revocation_cache,
            hasher=hasher,
            tokens=tokens,
            throttle=throttle_for(
                link,
                ThrottleLimits(
                    window_seconds=settings.login_failure_window_seconds,
                    per_account_ip=settings.login_max_failures_per_account_ip,
                    per_account=settings.login_max_failures_per_account,
                    per_ip=settings.login_max_failures_per_ip,
                ),
            ),
            registrations=registration_limit_for(link, settings.register_max_per_ip),
            events=events,
        ),
        health=HealthService(DatabaseProbe(), link),
        videos=videos,
        engagement=EngagementService(
            videos=videos,
            engagement=engagement,
            store=store,
            counters=counters,
            presence_ttl_seconds=settings.presence_ttl_seconds,
            view_window_seconds=settings.view_window_seconds,
        ),
        comments=CommentService(
            videos=videos, comments=CommentRepository(), counters=counters, cursors=cursors
        ),
        trending=trending,
        idempotency=IdempotencyService(idempotency_store_for(link)),
        view_flusher=ViewFlusher(engagement, store, interval_seconds=settings.view_flush_interval_seconds),
        live=LiveHub(
            videos,
            store,
            signals,
            capacity=settings.ws_max_connections_per_worker,
            per_client=settings.ws_max_connections_per_ip_per_worker,
            presence_ttl_seconds=settings.presence_ttl_seconds,
            interval_seconds=settings.live_update_interval_seconds,
        ),
    )
    services.view_flusher.on_flush.append(
        lambda result, lag: metrics.record_view_flush(result.views, result.videos, lag)
    )
    services.view_flusher.on_failure.append(lambda exc: metrics.record_view_flush_failure())
    services.comments.on_moderation.append(metrics.record_comment_moderation)
    services.trending.on_refresh.append(metrics.record_trending_refresh)
    services.view_flusher.on_rows.append(services.videos.views_flushed)
    _subscribe(events, signals, services)
    app.ctx.services = services
    app.ctx.resources = Resources(
        hasher=hasher, link=link, events=events, signals=signals, replicas=_replica_router(settings, link)
    )

    observability = Observability(span_exporter=span_exporter)
    _install_middleware(app, settings, services, observability, fast)
    blueprints = (
        health_api.blueprint,
        root_api.blueprint,
        auth_api.blueprint,
        videos_api.blueprint,
        engagement_api.blueprint,
        comments_api.blueprint,
        live_api.blueprint,
        docs_api.blueprint,
    )
    for blueprint in blueprints:
        app.blueprint(blueprint)
    _extend(app, settings)
    _install_lifecycle(app, settings, observability)
    return app


def _extend(app: Sanic, settings: Settings) -> None:
    """sanic-ext with the extensions HALO uses: the OpenAPI document, and CORS with the automatic
    OPTIONS routes its preflights need (no injection, health, logging or templating)."""
    app.extend(
        extensions=[docs_api.DocsExtension, HTTPExtension],
        built_in_extensions=False,
        config={
            **docs_api.OAS_CONFIG,
            **cors.extension_config(settings.cors_origins),
            "HTTP_ALL_METHODS": False,  # no CONNECT or TRACE
            "HTTP_AUTO_HEAD": True,  # HEAD on every GET route: its status and headers, no body
            "HTTP_AUTO_TRACE": False,
        },
    )
    docs_api.install(app)
    if settings.cors_origins:
        cors.keep_hot_routes_lean(app)


def _subscribe(events: EventBus, signals: LiveSignals, services: Services) -> None:
    """Change notices keep every worker's metadata cache and live feeds in step; a lost
    subscription (notices may have been missed) drops the cache and wakes every feed."""
    events.on_message(services.videos.on_notice)
    events.on_reset(services.videos.on_notices_lost)
    events.on_message(services.live.on_notice)  # a PATCH may hide a video from some of its watchers
    signals.on_signal(services.live.on_signal)
    signals.on_reset(services.live.on_signals_lost)


def _install_middleware(
    app: Sanic,
    settings: Settings,
    services: Services,
    observability: Observability,
    fast: fastpath.FastPath | None,
) -> None:
    """Request middleware runs from the highest priority down, response middleware from the lowest up."""
    client_ip = ClientIpResolver(settings.trusted_proxies)
    buckets = TokenBucketLimiter(
        settings.rate_limit_rps, settings.rate_limit_burst, max_clients=settings.rate_limit_max_clients
    )
    link = app.ctx.resources.link
    limiter: RateLimiter = (
        RedisRateLimiter(link, settings.rate_limit_rps, settings.rate_limit_burst, fallback=buckets)
        if settings.rate_limit_backend == "redis" and link is not None
        else LocalRateLimiter(buckets)
    )
    rate_limit = RateLimitMiddleware(limiter)
    bearer = BearerAuth(services.auth)
    app.ctx.rate_limit = rate_limit
    app.ctx.bearer = bearer
    rate_limit.on_limited.append(lambda request: metrics.record_rate_limited())

    before: list[RequestStep] = []
    after: list[ResponseStep] = []
    # Tracing off costs nothing: its steps are not even in the pipeline.
    spans = None
    if settings.tracing_enabled or observability.span_exporter is not None:
        from halo.middleware.tracing import ServerSpans

        spans = observability.spans = ServerSpans()
        before.append(spans.start)
    request_metrics = None
    if settings.metrics_enabled:
        request_metrics = RequestMetrics(metrics.metrics(), fast.batch_writer if fast else None)
    app.ctx.request_metrics = request_metrics
    if request_metrics is not None:
        before.append(request_metrics.started)
    before += [
        request_id.assign_request_id,
        client_ip.middleware,
        limits.check_request_line,
        rate_limit.check,
    ]
    before.append(bearer.authenticate)
    before.append(LiveAdmission())  # WebSocket routes only: admitted or refused before the handshake

    after += [
        AccessLog(fast.access_line if fast else None),
        compression.gzip_response,
        draining.close_connection_when_draining,
        headers.caching_and_security_headers,
        *([cors.headers] if settings.cors_origins else []),
        rate_limit.headers,
        RateLimitFields(settings.rate_limit_rps, settings.rate_limit_burst),
        request_id.echo_request_id,
    ]
    if request_metrics is not None:
        after.append(request_metrics.finished)
    if spans is not None:
        after.append(spans.finish)  # last: the access line still carries the trace id
    app.on_request(RequestPipeline(before))
    responses = ResponsePipeline(after)
    app.on_response(responses)
    # A WebSocket's upgrade has no response object: its access line and metrics come from a 101.
    app.ctx.upgraded = lambda request: responses(request, HTTPResponse(status=101))


GC_YOUNG_THRESHOLD = 10_000  # allocations between two collections of the youngest generation (default 700)


def settle_garbage_collector() -> None:
    """Once a worker has started: what start-up built (the app, its routes and schemas, the
    OpenAPI document, imported modules) is frozen out of the collector's reach, and young
    collections run every 10,000 allocations instead of 700. A request allocates a few hundred
    short-lived objects, most freed by reference counting; the collector's passes over the
    start-up objects were about a sixth of the warm detail read's instructions (`bench/instructions.py`,
    in bench/RESULTS.md). Cycles are still collected, only less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def _install_lifecycle(app: Sanic, settings: Settings, observability: Observability) -> None:
    @app.before_server_start
    async def open_resources(app: Sanic) -> None:
        resources: Resources = app.ctx.resources
        if observability.spans is not None:
            from halo.observability.tracing import start_tracing

            resources.tracing = start_tracing(settings, observability.span_exporter)
            observability.spans.use(resources.tracing)
        if settings.metrics_enabled:
            metrics.set_build_info(__version__)
            metrics.set_primary_pool()

        def quiet(work: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
            """Start-up and background work makes no traces of its own (only requests do)."""
            if resources.tracing is None:
                return work
            from halo.observability.tracing import untraced

            return untraced(work)

        def background(work: Coroutine[Any, Any, Any], name: str) -> None:
            resources.tasks.append(asyncio.create_task(quiet(work), name=name))

        shared = getattr(app.shared_ctx, "live_places", None)
        if shared is not None:
            places = SharedPlaces.attach(
                PlaceTable.from_shared(shared),
                settings.ws_max_connections,
                settings.ws_max_connections_per_ip,
            )
            if places is None:
                log.warning(
                    "live sockets: no free column in the instance's table; this worker counts its own share"
                )
            else:
                app.ctx.services.live.share_places(places)
        shared_buckets = getattr(app.shared_ctx, "rate_buckets", None)
        if shared_buckets is not None:
            app.ctx.rate_limit.share(BucketTable.from_shared(shared_buckets))
        await database.open_orm(settings)
        if resources.replicas is not None:
            replicas.install(resources.replicas)
            background(resources.replicas.watch(), "replica-watch")
        if resources.link is not None:
            await quiet(resources.link.probe())
            background(resources.link.watch(), "redis-watch")
            background(warn_if_evictable(resources.link), "redis-eviction-policy")
        background(resources.hasher.warm_up(), "bcrypt-warm-up")
        background(_become_ready(app), "readiness")
        background(_prune_revocations(app), "prune-revocations")
        if resources.link is not None:
            background(_catch_up_revocations(app), "revocation-catch-up")
        background(app.ctx.services.view_flusher.run(), "view-flush")
        background(app.ctx.services.trending.run(), "trending-refresh")
        background(resources.events.listen(), "change-notices")
        background(resources.signals.listen(), "live-signals")
        background(app.ctx.services.live.keep_present(), "live-presence")
        if settings.metrics_enabled and not settings.is_sqlite:
            background(_sample_database_pool(settings), "database-pool-metrics")
        if app.ctx.request_metrics is not None:
            background(_publish_request_metrics(app.ctx.request_metrics), "request-metrics")
        settle_garbage_collector()

    @app.main_process_start
    async def share_instance_tables(app: Sanic) -> None:
        """Several workers: one table of live-socket places (halo.services.live_places) and one of
        rate-limit buckets (halo.security.shared_buckets) for the whole instance."""
        if settings.effective_workers > 1:
            context = multiprocessing.get_context()  # Sanic's, set before this runs
            places = PlaceTable.create(context, settings.ws_max_connections, settings.effective_workers)
            app.shared_ctx.live_places = places.shareable()
            buckets = BucketTable.create(context, settings.rate_limit_max_clients)
            app.shared_ctx.rate_buckets = buckets.shareable()

    @app.main_process_stop
    async def wait_for_workers(app: Sanic) -> None:
        """Sanic's manager waits only ~10 s for workers; give them the drain we promised, and their flush."""
        manager = getattr(app, "_manager", None)
        if manager is None:  # single process: nothing to wait for
            return
        deadline = time.monotonic() + settings.shutdown_delay_seconds + settings.shutdown_timeout_seconds + 15
        while any(process.is_alive() for process in manager.processes) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling other processes
            await asyncio.sleep(0.1)

    @app.before_server_stop
    async def start_draining(app: Sanic) -> None:
        app.ctx.state.draining = True
        if settings.shutdown_delay_seconds:
            # Keep serving while load balancers notice the failing readiness probe.
            log.info("shutting down: readiness off, serving %ss more", settings.shutdown_delay_seconds)
            await asyncio.sleep(settings.shutdown_delay_seconds)
        # Sockets never finish on their own: close them (1001), so clients reconnect elsewhere
        # and their viewers leave, instead of holding the drain for its whole timeout.
        app.ctx.services.live.close_all()
        log.info("draining in-flight requests (up to %ss)", settings.shutdown_timeout_seconds)

    @app.after_server_stop
    async def close_resources(app: Sanic) -> None:
        resources: Resources = app.ctx.resources
        for task in resources.tasks:
            task.cancel()
        # Bounded: a task whose cancellation got lost (redis-py may swallow one in the middle of a
        # command) must not hold the worker's exit forever.
        _, stuck = await asyncio.wait(resources.tasks, timeout=5)
        for task in stuck:
            log.warning("background task %s did not stop when cancelled", task.get_name())
        # In-flight requests are done: write the views they counted before leaving.
        await app.ctx.services.view_flusher.drain()
        if app.ctx.request_metrics is not None:
            app.ctx.request_metrics.publish()  # the last requests' numbers, before the files close
        if resources.link is not None:
            with contextlib.suppress(Exception):
                await resources.link.client.aclose()
        resources.hasher.close()
        replicas.install(None)
        await database.close_orm()
        if resources.tracing is not None:
            await asyncio.to_thread(resources.tracing.shutdown)  # exports what is queued
        places = app.ctx.services.live.places
        if isinstance(places, SharedPlaces):
            places.detach()
        if settings.prometheus_multiproc_dir:
            from halo.observability.multiprocess import process_stopped

            process_stopped(settings.prometheus_multiproc_dir)


def _replica_router(settings: Settings, link: RedisLink | None) -> ReplicaRouter | None:
    """The worker's read-replica router (None without DATABASE_REPLICA_URLS): halo.db.replicas."""
    if not settings.database_replica_urls:
        return None
    positions = RedisWritePositions(link) if link is not None else MemoryWritePositions()
    router = ReplicaRouter(
        settings.database_replica_urls,
        max_lag_seconds=settings.replica_max_lag_seconds,
        positions=positions,
        primary_read_share=settings.replica_primary_read_share,
    )
    if link is not None:  # a failed Redis call or probe: positions may have been missed
        link.on_error(router.positions_failed)
    if settings.metrics_enabled:
        router.on_read.append(metrics.record_db_read)
        router.on_fallback.append(metrics.record_replica_fallback)
        router.on_state.append(
            lambda replica: metrics.set_replica_state(replica.name, up=replica.up, lag_seconds=replica.lag)
        )
    return router


async def _become_ready(app: Sanic) -> None:
    """Ready once the database answers and its migrations are at head; retry until then."""
    pending_check = translate_errors(database.pending_migrations)
    while True:
        try:
            pending = await pending_check()
        except Exception as exc:
            log.warning("not ready: database unreachable (%s); retrying", exc or type(exc).__name__)
        else:
            app.ctx.state.schema_behind = bool(pending)
            if not pending:
                app.ctx.state.ready = True
                log.info("ready")
                return
            log.warning("not ready: migrations pending (%s); run `halo migrate`", ", ".join(pending))
        await asyncio.sleep(READY_RETRY_SECONDS)


async def _publish_request_metrics(request_metrics: RequestMetrics) -> None:
    while True:
        await asyncio.sleep(PUBLISH_SECONDS)
        request_metrics.publish()


async def _sample_database_pool(settings: Settings) -> None:
    """Each worker reports its own pool; the metrics endpoint adds the workers up."""
    names = ["default"] + [f"replica{index}" for index in range(len(settings.database_replica_urls))]
    while True:
        for name in names:
            usage = database.pool_usage(name)
            if usage is not None:
                metrics.set_database_pool(usage.name, used=usage.used, idle=usage.idle, maximum=usage.maximum)
            else:  # not opened yet: the bound is still known
                metrics.set_database_pool(name, used=0, idle=0, maximum=settings.database_pool_max)
        await asyncio.sleep(POOL_SAMPLE_SECONDS)


async def _catch_up_revocations(app: Sanic) -> None:
    """Once a second, the revocations PostgreSQL has above the Redis cache's version go into it
    (halo.redis.revocation_cache): one small indexed query when there is nothing new."""
    failing = False
    while True:
        await asyncio.sleep(REVOCATION_CATCH_UP_SECONDS)
        try:
            written = await app.ctx.services.auth.catch_up_revocations()
        except StoreUnavailable:
            continue  # Redis down here: this worker reads PostgreSQL meanwhile
        except Exception as exc:
            if not failing:
                log.warning("could not bring the revocation cache up to date: %s", exc)
            failing = True
            continue
        failing = False
        if written:
            log.debug("revocation cache caught up with %d revocations", written)


async def _prune_revocations(app: Sanic) -> None:
    while True:
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)
        try:
            removed = await app.ctx.services.auth.prune_revocations()
            if removed:
                log.info("pruned %d expired token revocations", removed)
        except Exception as exc:
            log.warning("could not prune revocations: %s", exc)
