"""Group commit: the short writes of many requests made durable by one commit.

A read records its disclosure in a short write at the end (DESIGN.md §6). One commit per
read would cap a database at its commit rate (on SQLite, one fsync each: ~180 a second
here), whatever the CPU does. Instead, each request hands its write to the committer and
waits; the committer's thread writes everything waiting in one transaction and commits
once, then wakes each request. Nothing is relaxed: a request answers only once its own
write is durable, exactly as if it had committed alone.

A batch that fails is retried one write at a time, so one bad write fails only its own
request.
"""

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from referral.logging import get_logger

log = get_logger(__name__)

Write = Callable[[Session], None]
MAX_BATCH = 256


@dataclass
class _Job:
    write: Write
    done: Future[None]


class GroupCommitter:
    def __init__(self, session_factory: sessionmaker[Session], max_batch: int = MAX_BATCH) -> None:
        self._sessions = session_factory
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.commits = 0  # how many commits served how many writes: for tests and metrics
        self.writes = 0

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
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            self._commit(batch)
            if stop:
                return

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
