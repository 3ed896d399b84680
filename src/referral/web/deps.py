"""Dependencies every controller may ask for: the unit of work, the actor, the viewer."""

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import structlog
from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency, Provide

from referral.domain.actors import Actor
from referral.domain.vocabulary import Role
from referral.services.auth import Upkeep
from referral.services.committer import Announced, Write
from referral.services.people import NetworkChoice, describe_viewer
from referral.services.uow import Runtime, UnitOfWork
from referral.web.language import reading_of
from referral.web.reads import announced_write, database_read
from referral.web.session import (
    IN_STEP,
    current_session,
    keep_up,
    provide_actor,
    reading,
    session_in_step,
)

T = TypeVar("T")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_uow(request: Request[Any, Any, Any]) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request; a GET's only reads (no write lock while it works).

    A write runs in a worker thread, in one hop: its transaction begins and commits
    inside the service call. A read runs where it costs least (web.reads). Ending the
    unit (a rollback, microseconds) runs on the loop itself, and what it disclosed or
    refused goes to the group committer, awaited without holding a thread: so no
    transaction ever waits for a free worker thread while it holds a lock others queue on.
    """
    reading = request.method in SAFE_METHODS
    if not reading:
        await request.body()  # received before the writer's turn: a slow upload holds no one
    async with request_unit(request, reading=reading) as uow:
        yield uow


@asynccontextmanager
async def request_unit(
    request: Request[Any, Any, Any], *, reading: bool
) -> AsyncIterator[UnitOfWork]:
    """The unit of work `provide_uow` hands out. A handler whose GET must write (the
    single sign-on callback, after its calls to the provider) opens one itself with
    `reading=False`, so that it too takes its turn among the writers."""
    runtime: Runtime = request.app.state.runtime
    request_id = _bind_request_id(request)
    uow = UnitOfWork(runtime, request_id=request_id, read_only=reading)
    pending = None
    try:
        async with _admitted(runtime), _writer_turn(runtime, reading):
            uow.__enter__()
            try:
                yield uow
            finally:
                pending = uow.finish()
    finally:
        # The session is closed: waiting for the audit write holds no connection, so it
        # holds no admission either. The committer makes the writes of every request
        # waiting here durable together; the response leaves only once its own is (and
        # a refused request's refusal is written before its error answer leaves).
        try:
            if pending is not None:
                await _write(runtime, pending, announced_write(request.scope))
        finally:
            structlog.contextvars.clear_contextvars()


def _bind_request_id(request: Request[Any, Any, Any]) -> str:
    """The request's id (the client's X-Request-ID, or a new one), bound to its log lines."""
    request_id = (request.headers.get("x-request-id") or uuid.uuid4().hex)[:64]
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


# Per event loop (a server process has one; test clients each run their own): the
# requests admitted to the database, and the one queue of SQLite writers.
_ADMISSIONS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = (
    weakref.WeakKeyDictionary()
)
_WRITERS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def _admitted(runtime: Runtime) -> AsyncIterator[None]:
    """A burst larger than the connection pool waits here, on the loop, in arrival order:
    left to wait for a pooled connection in worker threads, the last in line would meet
    the pool's timeout and fail, and would tie up threads the admitted ones need."""
    loop = asyncio.get_running_loop()
    admissions = _ADMISSIONS.get(loop)
    if admissions is None:
        admissions = _ADMISSIONS[loop] = asyncio.Semaphore(runtime.requests_at_once)
    async with admissions:
        yield


@asynccontextmanager
async def _writer_turn(runtime: Runtime, reading: bool) -> AsyncIterator[None]:
    """On SQLite, a process's writing requests take turns here, on the loop: waiting for
    the one write lock never ties up a worker thread that readers need."""
    if reading or not runtime.single_writer:
        yield
        return
    lock = _WRITERS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        yield


async def _write(runtime: Runtime, write: Write, announced: Announced | None) -> None:
    if announced is not None and not announced.handed_in:
        await asyncio.wrap_future(announced.submit(write))
    elif runtime.committer is not None:
        await asyncio.wrap_future(runtime.committer.submit(write))
    else:
        await anyio.to_thread.run_sync(runtime.write_now, write)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as the pages show them: actor, name, network, CSRF token, and
    how many unread notices they have."""

    actor: Actor
    display_name: str
    network_name: str
    csrf_token: str
    unread_notices: int = 0
    network_kind: str = "city"  # city, national or training
    # The networks the viewer may act in, for the header's switcher (one: no switcher).
    networks: tuple[NetworkChoice, ...] = ()
    # How pages read for them (web.language): their chosen language, the network's
    # languages (its default first) and its time zone.
    language: str | None = None
    network_languages: str = "en"
    time_zone: str = "Europe/London"

    def has(self, *roles: str) -> bool:
        return any(Role(role) in self.actor.roles for role in roles)


def _viewer(request: Request[Any, Any, Any], uow: UnitOfWork) -> Viewer:
    """Who is asking and what the header shows of them, in one reading unit: the
    request's own when it reads, one beside it when it writes."""
    with reading(uow) as reader:
        actor = provide_actor(request, reader)
        details = describe_viewer(reader, actor)
    viewer = Viewer(
        actor=actor,
        display_name=details.display_name,
        network_name=details.network_name,
        csrf_token=current_session(request).csrf_token,
        unread_notices=details.unread_notices,
        network_kind=details.network_kind,
        networks=details.networks,
        language=details.language,
        network_languages=details.network_languages,
        time_zone=details.time_zone,
    )
    # The request reads in their language from here on: its error pages and messages too.
    reading_of(request, viewer)
    return viewer


async def provide_actor_here(
    request: Request[Any, Any, Any], uow: NamedDependency[UnitOfWork]
) -> Actor:
    return await database_read(uow.runtime, lambda: provide_actor(request, uow))


async def provide_viewer(
    request: Request[Any, Any, Any], uow: NamedDependency[UnitOfWork]
) -> Viewer:
    # Not built on the `actor` dependency: that would be a second step, and for a write
    # a second reading unit, to learn what this one learns anyway.
    return await database_read(uow.runtime, lambda: _viewer(request, uow))


async def provide_form(request: Request[Any, Any, Any]) -> FormMultiDict:
    return await request.form()


# What handlers declare: explicit named dependencies (Litestar 3 drops inferred ones).
Uow = NamedDependency[UnitOfWork]
CurrentActor = NamedDependency[Actor]
CurrentViewer = NamedDependency[Viewer]
Form = NamedDependency[FormMultiDict]

DEPENDENCIES = {
    "uow": Provide(provide_uow),
    "actor": Provide(provide_actor_here),
    "viewer": Provide(provide_viewer),
    "form": Provide(provide_form),
}


# -- reads in one step -------------------------------------------------------------------
#
# A reading handler that declares `uow`, `actor` and `viewer` reaches the database four
# times: its session (the guard), who it is, the header's details, then its own work;
# each a turn of the loop and, on PostgreSQL, a hand-off to a worker thread and back.
# Reading pages and the API's case read do it all in one step instead: one unit, one
# snapshot, one hand-off. Their handlers carry `ONE_STEP` (the guard then leaves the
# session to the step) and call `read_as_actor` or `read_as_viewer`. Writes, and the
# CSV exports that stream from short reads of their own, keep the dependencies above.

ONE_STEP = {IN_STEP: True}


async def read_as_actor(
    request: Request[Any, Any, Any], work: Callable[[UnitOfWork, Actor], T]
) -> T:
    """`work(uow, actor)` for a reading request, with everything it reads in one step."""
    return await _in_one_step(request, lambda uow: work(uow, provide_actor(request, uow)))


async def read_as_viewer(
    request: Request[Any, Any, Any], work: Callable[[UnitOfWork, "Viewer"], T]
) -> T:
    """`work(uow, viewer)` for a reading page, with everything it reads in one step."""

    def step(uow: UnitOfWork) -> T:
        return work(uow, _viewer(request, uow))

    return await _in_one_step(request, step)


async def viewer_in_one_step(request: Request[Any, Any, Any]) -> "Viewer":
    """The signed-in viewer alone, for a page that shows nothing else from the database."""
    return await read_as_viewer(request, lambda _, viewer: viewer)


async def _in_one_step(request: Request[Any, Any, Any], work: Callable[[UnitOfWork], T]) -> T:
    """As `provide_uow` for a reading request, with the session looked up in the unit too;
    what the read disclosed (or refused) is durable before anything leaves."""
    if request.method not in SAFE_METHODS:
        raise TypeError("only a reading request does its work in one step")
    runtime: Runtime = request.app.state.runtime
    reader = runtime.loop_reader()  # SQLite: the step runs on the loop (web.reads)
    uow = UnitOfWork(runtime, request_id=_bind_request_id(request), read_only=True, reader=reader)
    upkeep: Upkeep | None = None
    pending: Write | None = None

    def step() -> T:
        nonlocal upkeep, pending
        uow.__enter__()
        try:
            upkeep = session_in_step(request, uow)
            return work(uow)
        finally:
            pending = uow.finish()

    try:
        async with _admitted(runtime):
            return await database_read(runtime, step)
    finally:
        try:
            await keep_up(runtime, upkeep)
            if pending is not None:
                await _write(runtime, pending, announced_write(request.scope))
        finally:
            structlog.contextvars.clear_contextvars()
