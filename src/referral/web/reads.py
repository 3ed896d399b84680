"""Where a request's reads run: on the loop for SQLite, in a worker thread for PostgreSQL;
and the announcement of the audit write a read will hand to the group committer."""

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from referral.services.committer import Announced
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


_READING = frozenset({"GET", "HEAD"})
_ANNOUNCED = "referral_announced_write"


class AnnounceReads(ASGIMiddleware):
    """A page or API read, from the moment it reaches the app, is announced to the group
    committer (services.committer): the batch under way waits a moment for its audit
    write instead of committing without it. Announced here, at the door, rather than
    when the unit of work opens: a read waiting its turn on the loop counts too.
    """

    scopes = (ScopeType.HTTP,)
    exclude_opt_key = "no_session"  # static files record nothing

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        runtime: Runtime = scope["litestar_app"].state.runtime
        if runtime.committer is None or scope.get("method") not in _READING:
            await next_app(scope, receive, send)
            return
        with runtime.committer.expect() as announced:
            scope.setdefault("state", {})[_ANNOUNCED] = announced
            await next_app(scope, receive, send)


def announced_write(scope: Any) -> Announced | None:
    """The announcement `AnnounceReads` made for this request, if any."""
    found = scope.get("state", {}).get(_ANNOUNCED)
    return found if isinstance(found, Announced) else None
