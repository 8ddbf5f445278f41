"""Reads asked for in one turn of the event loop share one call; each caller gets its own answer.

The store's side is tested against real Redis in tests/integration/test_engagement_store.py;
here `fetch` is a recorder, because what is tested is when and with what it is called.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping

import pytest

from halo.concurrency import ReadCoalescer

caller = contextvars.ContextVar[str]("caller", default="none")


class Recorder:
    def __init__(self, *, fail: Exception | None = None) -> None:
        self.calls: list[list[int]] = []
        self.contexts: list[str] = []
        self.fail = fail
        self.release = asyncio.Event()
        self.release.set()

    async def fetch(self, keys: list[int]) -> Mapping[int, str]:
        self.calls.append(keys)
        self.contexts.append(caller.get())
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {key: f"value {key}" for key in keys}


async def test_reads_asked_for_together_share_one_call_and_each_gets_its_own_keys() -> None:
    recorder = Recorder()
    reads = ReadCoalescer(recorder.fetch)

    results = await asyncio.gather(reads.read([3]), reads.read([1, 3]), reads.read([2]))

    assert recorder.calls == [[3, 1, 2]]  # one call, each key once, in the order asked
    assert [
        {key: result[key] for key in keys} for result, keys in zip(results, ([3], [1, 3], [2]), strict=True)
    ] == [
        {3: "value 3"},
        {1: "value 1", 3: "value 3"},
        {2: "value 2"},
    ]


async def test_reads_in_later_turns_go_in_later_calls() -> None:
    recorder = Recorder()
    reads = ReadCoalescer(recorder.fetch)

    assert (await reads.read([1]))[1] == "value 1"
    assert (await reads.read([2]))[2] == "value 2"

    assert recorder.calls == [[1], [2]]


async def test_a_read_asked_for_while_a_call_is_out_goes_in_the_next_call() -> None:
    recorder = Recorder()
    recorder.release.clear()
    reads = ReadCoalescer(recorder.fetch)
    first = asyncio.ensure_future(reads.read([1]))
    await asyncio.sleep(0.01)  # the first call is out, waiting for its answer
    second = asyncio.ensure_future(reads.read([2]))
    await asyncio.sleep(0.01)
    recorder.release.set()

    assert (await first)[1] == "value 1"
    assert (await second)[2] == "value 2"
    assert recorder.calls == [[1], [2]]


async def test_a_batch_holds_at_most_max_keys() -> None:
    recorder = Recorder()
    reads = ReadCoalescer(recorder.fetch, max_keys=3)

    results = await asyncio.gather(*(reads.read([key]) for key in range(7)))

    assert recorder.calls == [[0, 1, 2], [3, 4, 5], [6]]
    assert [result[key] for key, result in enumerate(results)] == [f"value {key}" for key in range(7)]


async def test_a_failed_call_fails_every_caller_in_it() -> None:
    recorder = Recorder(fail=RuntimeError("store down"))
    reads = ReadCoalescer(recorder.fetch)

    results = await asyncio.gather(reads.read([1]), reads.read([2]), return_exceptions=True)

    assert len(recorder.calls) == 1
    assert [str(result) for result in results] == ["store down", "store down"]
    assert all(isinstance(result, RuntimeError) for result in results)


async def test_a_cancelled_caller_leaves_the_others_their_answers() -> None:
    recorder = Recorder()
    recorder.release.clear()
    reads = ReadCoalescer(recorder.fetch)
    gone = asyncio.ensure_future(reads.read([1]))
    staying = asyncio.ensure_future(reads.read([2]))
    await asyncio.sleep(0.01)
    gone.cancel()
    recorder.release.set()

    assert (await staying)[2] == "value 2"
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_nothing_is_sent_when_every_caller_left_before_the_batch_went() -> None:
    recorder = Recorder()
    reads = ReadCoalescer(recorder.fetch)
    gone = asyncio.ensure_future(reads.read([1]))
    await asyncio.sleep(0)  # the read is in the batch, which goes on the next turn
    gone.cancel()
    await asyncio.sleep(0.01)

    assert recorder.calls == []


async def test_the_call_runs_in_the_first_callers_context() -> None:
    """So that, with tracing on, the store call's span belongs to a request's trace."""
    recorder = Recorder()
    reads = ReadCoalescer(recorder.fetch)

    async def read_as(name: str, key: int) -> str:
        caller.set(name)
        return (await reads.read([key]))[key]

    assert await asyncio.gather(read_as("first", 1), read_as("second", 2)) == ["value 1", "value 2"]
    assert recorder.contexts == ["first"]
