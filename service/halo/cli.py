"""`halo serve | migrate | config | seed`: the operator's entry points."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from functools import partial

from pydantic import ValidationError

from halo import __version__
from halo.config import Settings, format_validation_error, load_settings

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        settings = load_settings(signs_tokens=args.signs_tokens)
    except ValidationError as exc:
        print(f"halo: {format_validation_error(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    return int(args.handler(settings, args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="halo",
        description="HALO video platform service, configured from the environment (docs/operations.md).",
    )
    parser.add_argument("--version", action="version", version=f"halo {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.set_defaults(signs_tokens=True)

    serve = commands.add_parser(
        "serve",
        help="run the HTTP service",
        description="Run the HTTP service on HOST:PORT with WORKERS processes. "
        "Apply migrations first with `halo migrate`; the service reports ready only when they are at head.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply pending migrations to DATABASE_URL. Safe to run concurrently: "
        "on PostgreSQL runs take turns under an advisory lock.",
    )
    migrate.add_argument(
        "--lock-timeout", type=float, default=600.0, help="seconds to wait for another run (600)"
    )
    migrate.set_defaults(handler=_migrate, signs_tokens=False)

    make = commands.add_parser(
        "makemigrations",
        help="(development) write the next migration from changes to halo/db/models.py",
        description="Compare the models with the migrations in migrations/ and write the next one there. "
        "Add what models cannot express (expression indexes, collations) by hand as RunSQL.",
    )
    make.add_argument("--name", required=True, help="what changed, e.g. add_videos")
    make.set_defaults(handler=_makemigrations, signs_tokens=False)

    seed = commands.add_parser(
        "seed",
        help="fill the database with demo users, videos, likes and comments",
        description="Bulk-insert N users and N videos with likes and comments (seeded users' password: "
        "password123), and warm Redis with matching engagement. Adds to existing data.",
    )
    seed.add_argument("--users", type=int, default=100, help="number of users (100)")
    seed.add_argument("--videos", type=int, default=1000, help="number of videos (1000)")
    seed.add_argument("--seed", type=int, default=42, help="random seed, for repeatable data (42)")
    seed.add_argument(
        "--force", action="store_true", help="seed even with ENV=production (refused without it)"
    )
    seed.set_defaults(handler=_seed, signs_tokens=False)

    check = commands.add_parser(
        "config",
        aliases=["check-config"],
        help="validate the configuration and print the effective settings (secrets hidden)",
        description="Print every setting's effective value (secrets and passwords redacted); "
        "exit 2 naming each invalid one.",
    )
    check.set_defaults(handler=_check_config)

    return parser


def settings_help() -> str:
    """The environment variables `halo serve` reads, with their defaults (for `--help`)."""
    lines = ["settings (environment variables; see docs/operations.md):"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(default) or "(empty)"
        lines.append(f"  {name.upper():<38} {'(unset)' if default is None else default}")
    return "\n".join(lines)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    # First of all: prometheus-client chooses its storage when imported, and the
    # spawned workers inherit the directory through the environment.
    from halo.observability import multiprocess

    try:
        directory = multiprocess.prepare(settings.prometheus_multiproc_dir)
    except OSError as exc:
        print(f"halo: PROMETHEUS_MULTIPROC_DIR: cannot prepare the metrics directory: {exc}", file=sys.stderr)
        return 1
    settings = settings.model_copy(update={"prometheus_multiproc_dir": str(directory.path)})

    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from halo import worker_signals
    from halo.app import create_app

    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    workers = settings.effective_workers
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=workers,
        single_process=workers == 1,
        access_log=False,
        motd=settings.is_development,
    )
    backend = "SQLite + in-process store" if settings.redis_url is None else "PostgreSQL + Redis"
    if settings.is_sqlite and settings.redis_url is not None:
        backend = "SQLite + Redis"
    elif not settings.is_sqlite and settings.redis_url is None:
        backend = "PostgreSQL + in-process store"
    endpoint = None
    try:
        if settings.metrics_enabled:
            # One endpoint for the instance, in this (main) process, in both single- and multi-process mode.
            endpoint = multiprocess.MetricsEndpoint(
                settings.metrics_host, settings.metrics_port, str(directory.path)
            )
    except OSError as exc:
        print(f"halo: METRICS_PORT {settings.metrics_port}: {exc}", file=sys.stderr)
        directory.remove()
        return 1
    metrics_note = f", metrics on :{settings.metrics_port}/metrics" if endpoint else ""
    print(
        f"halo {__version__} listening on http://{settings.host}:{settings.port} "
        f"({workers} worker{'s' if workers != 1 else ''}, {backend}, ENV={settings.env}{metrics_note})",
        flush=True,
    )
    try:
        if workers == 1:
            Sanic.serve_single(primary=app)  # no worker manager: one process, less memory, no hop
        else:
            worker_signals.install()
            Sanic.serve(primary=app, app_loader=loader)
    finally:
        if endpoint is not None:
            endpoint.close()
        multiprocess.process_stopped(str(directory.path))
        directory.remove()
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from halo.db.database import MigrationRefused, migrate

    try:
        asyncio.run(migrate(settings, lock_timeout=args.lock_timeout))
    except (OSError, TimeoutError, MigrationRefused) as exc:
        print(f"halo: migrate failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _makemigrations(settings: Settings, args: argparse.Namespace) -> int:
    from tortoise.cli.cli import tortoise_cli_context
    from tortoise.migrations.autodetector import MigrationAutodetector
    from tortoise.migrations.writer import format_migration_name

    from halo.db.clients import MAKEMIGRATIONS_CONFIG

    async def detect() -> list:  # type: ignore[type-arg]
        async with tortoise_cli_context(MAKEMIGRATIONS_CONFIG) as ctx:
            assert ctx.apps is not None
            return await MigrationAutodetector(ctx.apps, MAKEMIGRATIONS_CONFIG["apps"]).changes()

    writers = asyncio.run(detect())
    if not writers:
        print("no model changes")
    for writer in writers:
        writer.name = format_migration_name(int(writer.name.split("_", 1)[0]), args.name)
        print(f"wrote {writer.write()}")
    return 0


def _seed(settings: Settings, args: argparse.Namespace) -> int:
    if settings.env == "production" and not args.force:
        print(
            "halo: refusing to seed with ENV=production (it adds demo users with a published password); "
            "use ENV=development, or --force if you mean it",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    from halo.seed import run_seed

    return asyncio.run(run_seed(settings, users=args.users, videos=args.videos, seed=args.seed))


def _check_config(settings: Settings, args: argparse.Namespace) -> int:
    hidden = {"jwt_secret", "jwt_previous_secrets"}
    for name, value in settings.model_dump().items():
        if name in hidden and value:
            shown: object = "***"
        elif isinstance(value, list):  # as the variable is written: comma-separated
            shown = ",".join(_shown(str(item)) for item in value)
        else:
            shown = _shown(value) if isinstance(value, str) else value
        print(f"{name.upper()}={shown}")
    print(f"# effective WORKERS={settings.effective_workers}")
    return 0


def _shown(value: str) -> str:
    """Every URL-valued setting (databases, Redis, the OTLP endpoints) without its credentials."""
    return _without_login(value) if "://" in value else value


# Query parameters that carry a credential in libpq/asyncpg and redis-py URLs.
_SECRET_PARAMETERS = ("password", "sslpassword", "passfile", "sslkey", "token")


def _without_login(url: str) -> str:
    """The URL with its user information and credential parameters replaced by ***."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    path, question, query = (slash + tail).partition("?")
    if question:
        parameters = []
        for parameter in query.split("&"):
            key, equals, _ = parameter.partition("=")
            secret = equals and key.lower() in _SECRET_PARAMETERS
            parameters.append(f"{key}=***" if secret else parameter)
        query = "&".join(parameters)
    return f"{scheme}://{authority}{path}{question}{query}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
