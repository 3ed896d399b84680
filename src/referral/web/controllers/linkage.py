"""Repeat-referral alerts across networks, as the national coordinator's page: the same
status-level list as `GET /api/linkage/alerts` (network names, years, states, similarity;
never anything of the person). A coordinator's alerts live on the case page instead."""

from typing import Any

from litestar import Request, get
from litestar.response import Template

from referral.services import linkage
from referral.services.uow import UnitOfWork
from referral.web.deps import ONE_STEP, Viewer, read_as_viewer
from referral.web.render import page


@get("/linkage", name="linkage_alerts", opt=ONE_STEP)
async def alerts(request: Request[Any, Any, Any]) -> Template:
    def work(uow: UnitOfWork, viewer: Viewer) -> Template:
        found = linkage.national_alerts(uow, viewer.actor)
        return page(request, "linkage/alerts.html", viewer, alerts=found)

    return await read_as_viewer(request, work)


ROUTES = [alerts]
