"""SIGTERM in the multi-worker main process, handled outside the signal handler.

Sanic's worker manager stops the workers from inside its signal handler, and
stopping a worker writes its state through a `multiprocessing` manager proxy.
When the signal lands while the monitor loop is itself in the middle of a
proxy call (it reads every worker's state ten times a second), the two calls
share one connection and read each other's replies: the manager crashed with
"'NoneType' object is not a mapping", one worker was never stopped, and the
listener went away before the promised `SHUTDOWN_DELAY_SECONDS`. Seen in
`tests/e2e/test_runtime.py` on a loaded machine.

Here the handler only posts Sanic's own `__TERMINATE__` message to the
monitor loop, which then stops the workers between proxy calls (the same
`shutdown()`, in ordinary code). A second signal still kills at once.
"""

from __future__ import annotations

from contextlib import suppress
from signal import Signals
from types import FrameType

from sanic.exceptions import ServerKilled
from sanic.log import logger
from sanic.worker.manager import WorkerManager

TERMINATE = "__TERMINATE__"  # what sanic.worker.manager's monitor loop answers with shutdown()


def deferred_shutdown_signal(manager: WorkerManager, signum: int, frame: FrameType | None) -> None:
    """WorkerManager's SIGINT/SIGTERM handler: ask the monitor loop to shut down, touch nothing else."""
    if manager._shutting_down:
        logger.info("Shutdown interrupted. Killing.")
        with suppress(ServerKilled):
            manager.kill()
        return
    logger.info("Received signal %s. Shutting down.", Signals(signum).name)
    manager.monitor_publisher.send(TERMINATE)


def install() -> None:
    """Use `deferred_shutdown_signal` for worker managers created from now on (before `Sanic.serve`)."""
    WorkerManager.shutdown_signal = deferred_shutdown_signal  # type: ignore[assignment]
