"""What a serving worker does not load: each module here is memory every worker would hold
(the idle RSS target, bench/RESULTS.md) for something a PostgreSQL deployment never uses. Nor does
it warn while starting: a warning also loads its source file into memory, and redis-py warned
of the synchronous `Retry` once given to its asyncio client."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# SQLite (the embedded default's driver and Tortoise's backend for it) and the migration tool
# (`halo migrate` only).
NOT_SERVED = ("sqlite3", "_sqlite3", "aiosqlite", "tortoise.backends.sqlite", "tortoise.migrations.api")


def _modules_after_start(database_url: str) -> set[str]:
    code = textwrap.dedent(
        f"""
        import sys, warnings
        warnings.simplefilter("error")  # a warning at start-up would also load its source file
        from halo.app import create_app
        from halo.config import Settings
        from halo.db.clients import redis_client, tortoise_config
        settings = Settings(env="development", database_url={database_url!r}, redis_url="redis://127.0.0.1:1/0")
        create_app(settings)
        tortoise_config(settings)
        redis_client(settings)  # not connected: only made, as each worker makes it
        print(" ".join(sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_a_postgresql_worker_loads_neither_sqlite_nor_the_migration_tool() -> None:
    loaded = _modules_after_start("postgres://halo@127.0.0.1:5432/halo")
    assert not {name for name in loaded if name.startswith(NOT_SERVED)}


def test_the_embedded_default_loads_its_sqlite_backend() -> None:  # the check above can tell
    loaded = _modules_after_start("sqlite://:memory:")
    assert "tortoise.backends.sqlite.executor" in loaded
