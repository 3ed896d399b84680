"""The data-protection officer's destruction register: every erasure, newest first."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from referral.services import erasure
from referral.web.deps import CurrentViewer, Uow
from referral.web.render import page


@get("/audit/destructions", name="destruction_register", sync_to_thread=True)
def register(request: Request[Any, Any, Any], uow: Uow, viewer: CurrentViewer) -> Template:
    entries = erasure.destruction_register(uow, viewer.actor)
    return page(request, "audit/destructions.html", viewer, entries=entries)


ROUTES: list[Any] = [register]
