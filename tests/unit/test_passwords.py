"""bcrypt off the loop, configurable cost, no silent truncation, constant work for unknown accounts."""

from __future__ import annotations

import asyncio
import os
import threading

import bcrypt
import pytest

from halo.security import passwords
from halo.security.passwords import PasswordHasher, PasswordTooLong


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(4, threads=2)


async def test_hash_then_verify(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse")
    assert await hasher.verify("correct horse", hashed)
    assert not await hasher.verify("wrong horse", hashed)


async def test_cost_is_the_configured_rounds() -> None:
    hashed = await PasswordHasher(5, threads=1).hash("password1")
    assert hashed.startswith("$2b$05$")


async def test_password_over_72_bytes_is_refused_not_truncated(hasher: PasswordHasher) -> None:
    with pytest.raises(PasswordTooLong):
        await hasher.hash("é" * 37)  # 74 bytes, 37 characters


async def test_over_long_password_never_matches_even_with_the_right_prefix(hasher: PasswordHasher) -> None:
    prefix = "a" * 72
    hashed = await hasher.hash(prefix)
    assert not await hasher.verify(prefix + "tail", hashed)


async def test_bcrypt_runs_off_the_event_loop(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = bcrypt.hashpw

    def spy(password: bytes, salt: bytes) -> bytes:
        threads.append(threading.current_thread().name)
        return real(password, salt)

    monkeypatch.setattr(passwords.bcrypt, "hashpw", spy)
    await hasher.hash("password1")
    assert threads
    assert all(name.startswith("bcrypt") for name in threads)
    assert threading.main_thread().name not in threads


async def test_unknown_account_is_checked_against_the_dummy_hash(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[bytes] = []
    real = passwords._check

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(passwords, "_check", spy)
    assert not await hasher.verify("whatever1", None)
    assert checked == [hasher.dummy_hash]


async def test_loop_stays_responsive_while_hashing() -> None:
    hasher = PasswordHasher(10, threads=2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(hasher.hash("password1") for _ in range(4)))
    task.cancel()
    assert ticks > 5  # the loop kept turning while bcrypt worked in threads


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def niceness_while_hashing(monkeypatch: pytest.MonkeyPatch, niceness: int, hashes: int) -> list[int]:
    """The niceness of the thread running each of `hashes` concurrent hashes."""
    seen: list[int] = []
    real = bcrypt.hashpw

    def spy(password: bytes, salt: bytes) -> bytes:
        seen.append(own_niceness())
        return real(password, salt)

    monkeypatch.setattr(passwords.bcrypt, "hashpw", spy)
    hasher = PasswordHasher(4, threads=2, niceness=niceness)
    try:
        await asyncio.gather(*(hasher.hash("password1") for _ in range(hashes)))
    finally:
        hasher.close()
    return seen


async def test_hashing_threads_run_at_a_lower_cpu_priority_than_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop_niceness = own_niceness()
    seen = await niceness_while_hashing(monkeypatch, 7, hashes=4)
    assert len(seen) == 4 and all(n == min(19, loop_niceness + 7) for n in seen)
    assert own_niceness() == loop_niceness  # the loop's own priority is untouched


async def test_niceness_zero_keeps_the_loops_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await niceness_while_hashing(monkeypatch, 0, hashes=2) == [own_niceness()] * 2


async def test_a_full_hashing_queue_refuses_at_once() -> None:
    from halo.security.passwords import HasherBusy

    hasher = PasswordHasher(10, threads=1, queue_max=2)
    try:
        results = await asyncio.gather(*(hasher.hash("password1") for _ in range(6)), return_exceptions=True)
        assert sum(isinstance(r, str) for r in results) == 3  # one running, two waiting
        assert sum(isinstance(r, HasherBusy) for r in results) == 3
        assert isinstance(await hasher.hash("password1"), str)  # room again once they are done
    finally:
        hasher.close()
