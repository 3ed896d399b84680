"""Where a request's reads run: on the loop for SQLite, in a worker thread for PostgreSQL."""

import asyncio
from collections.abc import Callable
from typing import TypeVar

import anyio

from referral.services.uow import Runtime

T = TypeVar("T")


async def database_read(runtime: Runtime, work: Callable[[], T]) -> T:
    """Run a reading request's database work where it costs least.

    On SQLite a read is a call into the same process that never waits on a network or a
    lock (WAL readers do not queue behind the writer): it runs right here, on the loop,
    sparing the thread hand-offs (and their waits for the GIL) that cost more than the
    read itself. On PostgreSQL each statement waits on the wire, so the work goes to a
    worker thread and the loop serves other requests meanwhile. Only reads come here:
    a write on the loop would stall every request behind SQLite's write lock.
    """
    if runtime.single_writer:
        # Let the loop look at its sockets first: a loop that only ever runs reads would
        # accept no new connection until the load stopped.
        await asyncio.sleep(0)
        return work()
    return await anyio.to_thread.run_sync(work)
