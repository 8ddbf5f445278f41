"""`create_app(settings)`: the one place that wires the service together.

Each Sanic worker process calls it once; per-worker resources (database pool,
Redis client, background tasks) open in `before_server_start` and close in
`after_server_stop`, after in-flight requests have drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sanic import Sanic

from halo import database
from halo.api import auth as auth_api
from halo.api import health as health_api
from halo.api import openapi
from halo.api import videos as videos_api
from halo.clients import redis_client
from halo.config import Settings
from halo.engagement.link import RedisLink, StoreUnavailable
from halo.engagement.memory_store import MemoryEngagementStore
from halo.engagement.rate_limit import RedisRateLimiter
from halo.engagement.redis_store import RedisEngagementStore
from halo.engagement.revocations import MemoryRevocationCache, RedisRevocationCache, RevocationCache
from halo.engagement.throttle import ThrottleLimits, throttle_for
from halo.middleware import access_log, compression, draining, headers, limits, request_id
from halo.middleware.auth import BearerAuth
from halo.middleware.client_ip import ClientIpResolver
from halo.middleware.cors import Cors
from halo.middleware.errors import EnvelopeErrorHandler
from halo.middleware.rate_limit import RateLimitMiddleware
from halo.observability.logging import configure_logging
from halo.repositories.base import translate_errors
from halo.repositories.engagement import EngagementRepository
from halo.repositories.errors import DatabaseUnavailable
from halo.repositories.health import DatabaseProbe
from halo.repositories.revocations import RevocationRepository
from halo.repositories.users import UserRepository
from halo.repositories.videos import VideoRepository
from halo.security.cursors import CursorCodec
from halo.security.passwords import PasswordHasher
from halo.security.rate_limit import LocalRateLimiter, RateLimiter, TokenBucketLimiter
from halo.security.tokens import TokenCodec
from halo.services.auth import AuthService
from halo.services.health import HealthService
from halo.services.videos import VideoService
from halo.services.view_flush import ViewFlusher

log = logging.getLogger("halo")

READY_RETRY_SECONDS = 2.0
PRUNE_INTERVAL_SECONDS = 600.0


@dataclass
class AppState:
    ready: bool = False
    draining: bool = False


@dataclass
class Services:
    auth: AuthService
    health: HealthService
    videos: VideoService
    view_flusher: ViewFlusher


@dataclass
class Resources:
    """What a worker opens at start and closes at stop."""

    hasher: PasswordHasher
    link: RedisLink | None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


def create_app(settings: Settings) -> Sanic:
    configure_logging(settings.log_level, settings.effective_log_format)
    app = Sanic(
        "halo",
        error_handler=EnvelopeErrorHandler(unavailable=(DatabaseUnavailable, StoreUnavailable)),
        configure_logging=False,
    )
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
        }
    )
    app.ctx.settings = settings
    app.ctx.state = AppState()

    hasher = PasswordHasher(settings.bcrypt_rounds, threads=settings.effective_bcrypt_threads)
    link = RedisLink(redis_client(settings)) if settings.redis_url else None
    revocation_cache: RevocationCache = RedisRevocationCache(link) if link else MemoryRevocationCache()
    # Applied view batches stay readable long enough for any reader that saw the row before the flush.
    retention = max(30.0, 3 * settings.view_flush_interval_seconds)
    store = (
        RedisEngagementStore(link, batch_retention_seconds=retention)
        if link
        else MemoryEngagementStore(batch_retention_seconds=retention)
    )
    engagement = EngagementRepository()
    tokens = TokenCodec(
        settings.effective_jwt_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_ttl_seconds,
        previous_secrets=tuple(settings.jwt_previous_secrets),
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
        ),
        health=HealthService(DatabaseProbe(), link),
        videos=VideoService(
            videos=VideoRepository(),
            engagement=engagement,
            store=store,
            cursors=CursorCodec(settings.effective_jwt_secret),
            presence_ttl_seconds=settings.presence_ttl_seconds,
        ),
        view_flusher=ViewFlusher(engagement, store, interval_seconds=settings.view_flush_interval_seconds),
    )
    app.ctx.services = services
    app.ctx.resources = Resources(hasher=hasher, link=link)

    _install_middleware(app, settings, services)
    for blueprint in (health_api.blueprint, auth_api.blueprint, videos_api.blueprint, openapi.blueprint):
        app.blueprint(blueprint)
    _install_lifecycle(app, settings)
    return app


def _install_middleware(app: Sanic, settings: Settings, services: Services) -> None:
    """Request middleware run in the order registered; response middleware in the priority given."""
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
    cors = Cors(settings.cors_origins)
    bearer = BearerAuth(services.auth)
    app.ctx.rate_limit = rate_limit
    app.ctx.bearer = bearer

    app.on_request(request_id.assign_request_id, priority=100)
    app.on_request(client_ip.middleware, priority=90)
    app.on_request(limits.check_request_line, priority=80)
    app.on_request(rate_limit.check, priority=70)
    if cors.enabled:
        app.on_request(cors.preflight, priority=60)
    app.on_request(bearer.authenticate, priority=50)

    # Response middleware: higher priority runs first.
    app.on_response(request_id.echo_request_id, priority=100)
    app.on_response(rate_limit.headers, priority=90)
    app.on_response(cors.headers, priority=80)
    app.on_response(headers.caching_and_security_headers, priority=70)
    app.on_response(draining.close_connection_when_draining, priority=60)
    app.on_response(compression.gzip_response, priority=20)
    app.on_response(access_log.log_request, priority=10)


def _install_lifecycle(app: Sanic, settings: Settings) -> None:
    @app.before_server_start
    async def open_resources(app: Sanic) -> None:
        resources: Resources = app.ctx.resources
        await database.open_orm(settings)
        if resources.link is not None:
            await resources.link.probe()
            resources.tasks.append(asyncio.create_task(resources.link.watch(), name="redis-watch"))
        resources.tasks.append(asyncio.create_task(resources.hasher.warm_up(), name="bcrypt-warm-up"))
        resources.tasks.append(asyncio.create_task(_become_ready(app), name="readiness"))
        resources.tasks.append(asyncio.create_task(_prune_revocations(app), name="prune-revocations"))
        resources.tasks.append(asyncio.create_task(app.ctx.services.view_flusher.run(), name="view-flush"))
        app.ctx.openapi_document = openapi.build_document(app)

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
        log.info("draining in-flight requests (up to %ss)", settings.shutdown_timeout_seconds)

    @app.after_server_stop
    async def close_resources(app: Sanic) -> None:
        resources: Resources = app.ctx.resources
        for task in resources.tasks:
            task.cancel()
        for task in resources.tasks:
            with contextlib.suppress(BaseException):
                await task
        # In-flight requests are done: write the views they counted before leaving.
        await app.ctx.services.view_flusher.drain()
        if resources.link is not None:
            with contextlib.suppress(Exception):
                await resources.link.client.aclose()
        resources.hasher.close()
        await database.close_orm()


async def _become_ready(app: Sanic) -> None:
    """Ready once the database answers and its migrations are at head; retry until then."""
    pending_check = translate_errors(database.pending_migrations)
    while True:
        try:
            pending = await pending_check()
        except Exception as exc:
            log.warning("not ready: database unreachable (%s); retrying", exc or type(exc).__name__)
        else:
            if not pending:
                app.ctx.state.ready = True
                log.info("ready")
                return
            log.warning("not ready: migrations pending (%s); run `halo migrate`", ", ".join(pending))
        await asyncio.sleep(READY_RETRY_SECONDS)


async def _prune_revocations(app: Sanic) -> None:
    while True:
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)
        try:
            removed = await app.ctx.services.auth.prune_revocations()
            if removed:
                log.info("pruned %d expired token revocations", removed)
        except Exception as exc:
            log.warning("could not prune revocations: %s", exc)
