"""Dependencies every controller may ask for: the unit of work, the actor, the viewer."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import structlog
from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency, Provide

from referral.domain.actors import Actor
from referral.domain.vocabulary import Role
from referral.services.people import describe_viewer
from referral.services.uow import Runtime, UnitOfWork
from referral.web.session import current_session, provide_actor


async def provide_uow(request: Request[Any, Any, Any]) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request. Its database work runs in worker threads, off the loop.

    Closing it records any refusals the request met, even when the handler raised.
    """
    runtime: Runtime = request.app.state.runtime
    request_id = (request.headers.get("x-request-id") or uuid.uuid4().hex)[:64]
    structlog.contextvars.bind_contextvars(request_id=request_id)
    uow = UnitOfWork(runtime, request_id=request_id)
    await anyio.to_thread.run_sync(uow.__enter__)
    try:
        yield uow
    except BaseException as exc:
        await anyio.to_thread.run_sync(uow.__exit__, type(exc), exc, exc.__traceback__)
        raise
    else:
        await anyio.to_thread.run_sync(uow.__exit__, None, None, None)
    finally:
        structlog.contextvars.clear_contextvars()


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as the pages show them: actor, name, network, CSRF token, and
    how many unread notices they have."""

    actor: Actor
    display_name: str
    network_name: str
    csrf_token: str
    unread_notices: int = 0

    def has(self, *roles: str) -> bool:
        return any(Role(role) in self.actor.roles for role in roles)


def provide_viewer(
    request: Request[Any, Any, Any], uow: NamedDependency[UnitOfWork], actor: NamedDependency[Actor]
) -> Viewer:
    details = describe_viewer(uow, actor)
    return Viewer(
        actor=actor,
        display_name=details.display_name,
        network_name=details.network_name,
        csrf_token=current_session(request).csrf_token,
        unread_notices=details.unread_notices,
    )


async def provide_form(request: Request[Any, Any, Any]) -> FormMultiDict:
    return await request.form()


# What handlers declare: explicit named dependencies (Litestar 3 drops inferred ones).
Uow = NamedDependency[UnitOfWork]
CurrentActor = NamedDependency[Actor]
CurrentViewer = NamedDependency[Viewer]
Form = NamedDependency[FormMultiDict]

DEPENDENCIES = {
    "uow": Provide(provide_uow),
    "actor": Provide(provide_actor, sync_to_thread=True),
    "viewer": Provide(provide_viewer, sync_to_thread=True),
    "form": Provide(provide_form),
}
