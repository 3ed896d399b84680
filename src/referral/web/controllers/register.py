"""The data-protection officer's destruction register: every erasure, newest first."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from referral.services import erasure
from referral.services.uow import UnitOfWork
from referral.web.deps import ONE_STEP, Viewer, read_as_viewer
from referral.web.render import page


@get("/audit/destructions", name="destruction_register", opt=ONE_STEP)
async def register(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        entries = erasure.destruction_register(uow, viewer.actor)
        return page(request, "audit/destructions.html", viewer, entries=entries)

    return await read_as_viewer(request, work)


ROUTES: list[Any] = [register]
