"""The buffered log handler: every line written once, in order, and no lock-order deadlock between
the event loop logging a warning and the background thread that writes the buffer out."""

from __future__ import annotations

import io
import logging
import threading

from halo.observability.logging import BufferedStreamHandler


class GatedStream(io.StringIO):
    """A stream whose writes can be held up, like a full stdout pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = threading.Event()
        self.proceed = threading.Event()
        self.proceed.set()

    def write(self, text: str) -> int:
        self.writing.set()
        self.proceed.wait()
        return super().write(text)


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("halo.test", level, __file__, 1, message, None, None)


def test_a_warning_logged_while_the_flusher_writes_does_not_deadlock() -> None:
    stream = GatedStream()
    handler = BufferedStreamHandler(stream, interval=3600)  # the periodic flush stays out of the way
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.add_line("first\n")
    stream.proceed.clear()

    flusher = threading.Thread(target=handler.flush, daemon=True)  # as the background thread does
    flusher.start()
    assert stream.writing.wait(5)  # it holds the buffer and is writing

    # Meanwhile a warning is logged: logging holds the handler's lock around emit(), which flushes.
    logger = threading.Thread(target=handler.handle, args=(_record(logging.WARNING, "second"),), daemon=True)
    logger.start()
    logger.join(0.2)
    stream.proceed.set()

    flusher.join(5)
    logger.join(5)
    assert not flusher.is_alive() and not logger.is_alive(), "the handler deadlocked"
    assert stream.getvalue() == "first\nsecond\n"


def test_lines_added_from_many_threads_are_all_written_once() -> None:
    stream = io.StringIO()
    handler = BufferedStreamHandler(stream, interval=0.001, max_pending=7)

    def add(prefix: str) -> None:
        for i in range(2000):
            handler.add_line(f"{prefix}{i}\n")

    threads = [threading.Thread(target=add, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush()

    lines = stream.getvalue().splitlines()
    assert sorted(lines) == sorted(f"{p}{i}" for p in "abcd" for i in range(2000))
    for p in "abcd":  # each thread's lines in the order it added them
        mine = [int(line[1:]) for line in lines if line[0] == p]
        assert mine == list(range(2000))
