"""SIGTERM in the main process: the handler only posts a message; the monitor loop stops the workers."""

from __future__ import annotations

import signal
from multiprocessing import Pipe
from types import SimpleNamespace
from typing import Any

from sanic.worker.manager import MonitorCycle, WorkerManager

from halo import worker_signals


class Untouchable:
    """Stands for the worker processes: the signal handler must not reach them."""

    def __iter__(self) -> Any:
        raise AssertionError("the signal handler touched the worker processes")


def test_handler_posts_terminate_and_touches_no_worker() -> None:
    receiver, sender = Pipe(duplex=False)
    manager: Any = SimpleNamespace(_shutting_down=False, monitor_publisher=sender, processes=Untouchable())
    worker_signals.deferred_shutdown_signal(manager, signal.SIGTERM, None)
    assert receiver.poll(5)
    assert receiver.recv() == worker_signals.TERMINATE


def test_a_second_signal_while_shutting_down_kills() -> None:
    killed = []
    manager: Any = SimpleNamespace(_shutting_down=True, kill=lambda: killed.append(True))
    worker_signals.deferred_shutdown_signal(manager, signal.SIGINT, None)
    assert killed == [True]


def test_sanics_monitor_loop_shuts_down_on_the_posted_message() -> None:
    """The message is Sanic's own: its monitor loop answers it with shutdown() and leaves the loop."""
    receiver, sender = Pipe(duplex=False)
    stopped = []
    manager: Any = WorkerManager.__new__(WorkerManager)
    manager.monitor_subscriber = receiver
    manager.shutdown = lambda: stopped.append(True)
    worker_signals.deferred_shutdown_signal(
        SimpleNamespace(_shutting_down=False, monitor_publisher=sender),  # type: ignore[arg-type]
        signal.SIGTERM,
        None,
    )
    assert WorkerManager._poll_monitor(manager) is MonitorCycle.BREAK
    assert stopped == [True]


def test_install_replaces_the_managers_handler() -> None:
    original = WorkerManager.shutdown_signal
    try:
        worker_signals.install()
        assert WorkerManager.shutdown_signal is worker_signals.deferred_shutdown_signal
    finally:
        WorkerManager.shutdown_signal = original  # type: ignore[method-assign]
