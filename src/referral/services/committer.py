"""Group commit: the short writes of many requests made durable by one commit.

A read records its disclosure in a short write at the end (DESIGN.md §6). One commit per
read would cap a database at its commit rate (on SQLite, one fsync each: ~180 a second
here), whatever the CPU does. Instead, each request hands its write to the committer and
waits; the committer's thread writes everything waiting in one transaction and commits
once, then wakes each request. Nothing is relaxed: a request answers only once its own
write is durable, exactly as if it had committed alone.

A batch that fails is retried one write at a time, so one bad write fails only its own
request.

A batch waits a moment for the writes still to come (the *window*, as PostgreSQL's
`commit_delay` and MySQL's `binlog_group_commit_sync_delay` do), but only while some
request that announced a write (`expect`) has not handed it in: a lone request never
waits. Without the window a server whose reads finish one after another on its event
loop commits them one by one, each commit costing about as much CPU as the read; with it
one commit serves several.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from referral.logging import get_logger

log = get_logger(__name__)

Write = Callable[[Session], None]
MAX_BATCH = 256
# A batch waits at most this long for the next announced write, and at most BATCH_WINDOWS
# windows in all (measured: docs/performance.md, fifth pass).
WINDOW_MS = 3.0
BATCH_WINDOWS = 4
_WAKE = object()  # a request that announced a write will not send one: look again


@dataclass
class _Job:
    write: Write
    done: Future[None]


class GroupCommitter:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        max_batch: int = MAX_BATCH,
        window_ms: float = WINDOW_MS,
    ) -> None:
        self._sessions = session_factory
        self._max_batch = max_batch
        self._window_s = window_ms / 1000
        self._queue: queue.SimpleQueue[_Job | object | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._expected = 0  # requests under way that may still hand in a write
        self._waiting = False  # a batch is waiting for them (wake it when one withdraws)
        self._expected_lock = threading.Lock()
        self.commits = 0  # how many commits served how many writes: for tests and metrics
        self.writes = 0

    @contextmanager
    def expect(self) -> Iterator["Announced"]:
        """Announce a write that may come: while the block runs, a batch under way waits
        for it (within the window). Hand it in with the yielded `Announced.submit`;
        leaving the block without doing so tells a waiting batch not to wait for it."""
        with self._expected_lock:
            self._expected += 1
        announced = Announced(self)
        try:
            yield announced
        finally:
            if not announced.handed_in:
                self._settle()
                if self._waiting:  # a batch waits for announced writes: let it look again
                    self._queue.put(_WAKE)

    def _settle(self) -> None:
        with self._expected_lock:
            self._expected -= 1

    def submit(self, write: Write) -> Future[None]:
        """Queue `write`; the future completes when it is committed (or failed)."""
        self._ensure_running()
        job = _Job(write, Future())
        self._queue.put(job)
        return job.done

    def write(self, write: Write) -> None:
        """Queue `write` and wait until it is durable."""
        self.submit(write).result()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _ensure_running(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="referral-group-commit", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            if not isinstance(first, _Job):
                continue  # a wake-up with no batch under way
            batch, stop = self._gather(first)
            self._commit(batch)
            if stop:
                return

    def _gather(self, first: "_Job") -> tuple[list["_Job"], bool]:
        """The batch that starts with `first`: what is queued, then what announced
        requests hand in while some are still under way, each within a window of the
        one before, the whole batch within `BATCH_WINDOWS` windows of its first write.
        Also whether the committer was told to stop."""
        batch = [first]
        latest = time.monotonic() + self._window_s * BATCH_WINDOWS
        while len(batch) < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                wait = min(self._window_s, latest - time.monotonic())
                # Waiting is said before the count is read: a request withdrawing after
                # the read sees it and wakes this wait.
                self._waiting = True
                if self._expected <= 0 or wait <= 0:
                    self._waiting = False
                    break
                try:
                    job = self._queue.get(timeout=wait)
                except queue.Empty:
                    break
                finally:
                    self._waiting = False
            if job is None:
                return batch, True
            if isinstance(job, _Job):
                batch.append(job)
        return batch, False

    def _commit(self, batch: list[_Job]) -> None:
        try:
            self._apply([job.write for job in batch])
        except Exception as error:  # each write is retried alone
            if len(batch) == 1:
                log.error("group_write_failed", error=type(error).__name__)
                batch[0].done.set_exception(error)
                return
            for job in batch:
                self._commit([job])
            return
        for job in batch:
            job.done.set_result(None)

    def _apply(self, writes: list[Write]) -> None:
        with self._sessions() as session, session.begin():
            for write in writes:
                write(session)
        self.commits += 1
        self.writes += len(writes)


class Announced:
    """A write announced to the committer (`GroupCommitter.expect`), handed in once."""

    def __init__(self, committer: GroupCommitter) -> None:
        self._committer = committer
        self.handed_in = False

    def submit(self, write: Write) -> Future[None]:
        if self.handed_in:
            raise RuntimeError("an announced write is handed in once")
        self.handed_in = True
        self._committer._settle()
        return self._committer.submit(write)
