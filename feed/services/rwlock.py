"""A readers-writer lock: many readers at once, or one writer.

Feed pages, events and searches only read the engine's indexes, so they share
the lock; ingest, deletion and reindexing change them and take it alone. A
waiting writer blocks new readers (so a steady stream of pages cannot starve an
upload), except threads that already hold the lock, which may re-enter: a
writer may read, and a reader may read again. A reader asking to write is a
programming error (two such readers would wait on each other forever).

A background read (work no request waits for, such as a phrase's second, deeper search:
90 ms at 1,000,000 clips) does not hold requests back. While one is held, new readers
pass a waiting writer, which then waits for them too; once no background read is held,
a waiting writer blocks new readers again. Background reads themselves never pass a
waiting writer, so a writer waits for at most the ones already running.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Reentrant, writer-preferring readers-writer lock."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers: dict[int, int] = {}  # thread id -> read depth
        self._writer: int | None = None
        self._write_depth = 0
        self._writers_waiting = 0
        self._background = 0  # background reads held

    @contextmanager
    def read(self, *, background: bool = False) -> Iterator[None]:
        """Hold the lock shared for the block (`background`: see above)."""
        me = threading.get_ident()
        with self._cond:
            if self._writer != me and me not in self._readers:
                while self._writer is not None or (
                    self._writers_waiting and (background or not self._background)
                ):
                    self._cond.wait()
            self._readers[me] = self._readers.get(me, 0) + 1
            self._background += background
        try:
            yield
        finally:
            with self._cond:
                self._background -= background
                depth = self._readers.pop(me) - 1
                if depth:
                    self._readers[me] = depth
                elif not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock alone for the block."""
        me = threading.get_ident()
        with self._cond:
            if self._writer != me:
                if me in self._readers:
                    raise RuntimeError("a reader cannot take the write lock (release it first)")
                self._writers_waiting += 1
                try:
                    while self._writer is not None or self._readers:
                        self._cond.wait()
                finally:
                    self._writers_waiting -= 1
                    if not self._writers_waiting:
                        self._cond.notify_all()  # readers held back for writers may go
                self._writer = me
            self._write_depth += 1
        try:
            yield
        finally:
            with self._cond:
                self._write_depth -= 1
                if not self._write_depth:
                    self._writer = None
                    self._cond.notify_all()
