"""The engine's readers-writer lock: shared reads, exclusive writes, no writer starvation."""

from __future__ import annotations

import functools
import threading
import time

import pytest

from feed.services.rwlock import ReadWriteLock

WAIT_S = 5.0


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def waiting(lock: ReadWriteLock) -> int:
    """Threads blocked inside the lock right now."""
    return len(lock._cond._waiters)  # type: ignore[attr-defined]


def in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def holding(hold, order: list[str], note: str | None = None, entered=None, release=None):
    """A thread's target: inside `hold()` (`lock.read`, `lock.write`), set `entered`, wait
    for `release`, then add `note` to `order`."""

    def run() -> None:
        with hold():
            if entered is not None:
                entered.set()
            if release is not None:
                release.wait(WAIT_S)
            if note is not None:
                order.append(note)

    return run


def test_readers_hold_the_lock_together():
    lock = ReadWriteLock()
    inside = threading.Barrier(3, timeout=WAIT_S)

    def reader():
        with lock.read():
            inside.wait()  # only passes if all three are inside at once

    threads = [in_thread(reader) for _ in range(2)]
    with lock.read():
        inside.wait()
    for t in threads:
        t.join(WAIT_S)
        assert not t.is_alive()


def test_writer_waits_for_readers_and_excludes_them():
    lock = ReadWriteLock()
    order: list[str] = []
    reading = threading.Event()
    release_reader = threading.Event()
    r = in_thread(holding(lock.read, order, "read done", reading, release_reader))
    assert reading.wait(WAIT_S)
    w = in_thread(holding(lock.write, order, "write"))
    wait_until(lambda: waiting(lock) == 1, "the writer blocks")
    assert order == []  # the writer is still waiting on the reader
    release_reader.set()
    r.join(WAIT_S)
    w.join(WAIT_S)
    assert order == ["read done", "write"]


def test_waiting_writer_blocks_new_readers():
    lock = ReadWriteLock()
    order: list[str] = []
    reading = threading.Event()
    release_first = threading.Event()
    first = in_thread(holding(lock.read, order, None, reading, release_first))
    assert reading.wait(WAIT_S)
    w = in_thread(holding(lock.write, order, "write"))
    wait_until(lambda: waiting(lock) == 1, "the writer queues")
    late = in_thread(holding(lock.read, order, "late read"))
    wait_until(lambda: waiting(lock) == 2, "the late reader queues too")
    assert order == []  # the late reader queues behind the writer
    release_first.set()
    for t in (first, w, late):
        t.join(WAIT_S)
    assert order == ["write", "late read"]


def test_holders_reenter_while_a_writer_waits():
    lock = ReadWriteLock()
    nested = threading.Event()
    queued = threading.Event()

    def writer():
        queued.set()
        with lock.write():
            pass

    with lock.read():
        w = in_thread(writer)
        queued.wait(WAIT_S)
        wait_until(lambda: waiting(lock) == 1, "the writer queues")
        with lock.read():  # would deadlock if re-entry queued behind the writer
            nested.set()
    w.join(WAIT_S)
    assert nested.is_set() and not w.is_alive()

    with lock.write(), lock.write(), lock.read():
        pass  # a writer may write again and read
    with lock.read():
        pass  # and the lock is free again afterwards


def test_a_reader_cannot_upgrade_and_the_lock_stays_usable():
    lock = ReadWriteLock()
    with (
        lock.read(),
        pytest.raises(RuntimeError, match="reader cannot take the write lock"),
        lock.write(),
    ):
        pass
    with lock.write():
        pass


def test_requests_pass_a_writer_that_waits_on_a_background_read():
    lock = ReadWriteLock()
    order: list[str] = []
    in_background = threading.Event()
    release_background = threading.Event()
    background = functools.partial(lock.read, background=True)
    slow = in_thread(
        holding(background, order, "background done", in_background, release_background)
    )
    assert in_background.wait(WAIT_S)
    w = in_thread(holding(lock.write, order, "write"))
    wait_until(lambda: waiting(lock) == 1, "the writer queues behind the background read")
    page = in_thread(holding(lock.read, order, "page while the background read is held"))
    page.join(WAIT_S)
    assert not page.is_alive() and order == ["page while the background read is held"]
    # Another background read does not pass the waiting writer: it would keep it waiting.
    second = in_thread(holding(background, order, "second background"))
    wait_until(lambda: waiting(lock) == 2, "a second background read queues")
    release_background.set()
    for t in (slow, w, second):
        t.join(WAIT_S)
        assert not t.is_alive()
    assert order[1:] == ["background done", "write", "second background"]


def test_a_waiting_writer_holds_requests_back_again_once_background_reads_end():
    lock = ReadWriteLock()
    order: list[str] = []
    release_page = threading.Event()
    in_page = threading.Event()
    with lock.read(background=True):
        w = in_thread(holding(lock.write, order, "write"))
        wait_until(lambda: waiting(lock) == 1, "the writer queues")
        first = in_thread(holding(lock.read, order, "first page done", in_page, release_page))
        assert in_page.wait(WAIT_S)  # passed the writer: a background read is held
    late = in_thread(holding(lock.read, order, "late page"))
    wait_until(lambda: waiting(lock) == 2, "a page after the background read queues again")
    release_page.set()
    for t in (first, w, late):
        t.join(WAIT_S)
    assert order == ["first page done", "write", "late page"]
