"""For load balancers and monitoring: /health, /ready and /metrics.

None of them has a session, a CSRF token or an audit entry: they disclose nothing about
any person. /health and /ready are open (a load balancer has no credentials) and say only
what is wrong with the process; /metrics needs the bearer token of
REFERRAL_METRICS_TOKEN and answers 404 to everyone while none is configured.
"""

import hmac
from datetime import timedelta
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.exceptions import NotFoundException

from referral.config import Settings
from referral.services import operations
from referral.services.uow import Runtime
from referral.web import metrics
from referral.web.reads import database_read

OPEN = {"no_session": True}


@get("/health", name="health", opt=OPEN, media_type=MediaType.JSON)
async def health() -> dict[str, str]:
    """The process answers; nothing else is asked (no database)."""
    return {"status": "ok"}


@get("/ready", name="ready", opt=OPEN, media_type=MediaType.JSON)
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """200 when this process can serve; 503 with the list of what failed otherwise."""
    runtime: Runtime = request.app.state.runtime
    failed = await database_read(runtime, lambda: operations.readiness_problems(runtime))
    if failed:
        return Response({"status": "unavailable", "failed": failed}, status_code=503)
    return Response({"status": "ready", "failed": []})


@get("/metrics", name="metrics", opt=OPEN)
async def scrape(request: Request[Any, Any, Any]) -> Response[bytes]:
    settings: Settings = request.app.state.settings
    runtime: Runtime = request.app.state.runtime
    if not _may_scrape(request, settings):
        raise NotFoundException()
    backlog = await database_read(
        runtime, lambda: operations.backlog(runtime, overdue_after(settings))
    )
    return Response(
        metrics.exposition(backlog, runtime.authz.tally), media_type=metrics.CONTENT_TYPE
    )


def _may_scrape(request: Request[Any, Any, Any], settings: Settings) -> bool:
    if settings.metrics_token is None:
        return False
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.encode(), expected.encode())


def overdue_after(settings: Settings) -> timedelta:
    """A timer is overdue when a worker should have fired it twice over (a minute at least)."""
    return timedelta(seconds=max(60.0, 2 * settings.worker_interval_seconds))


ROUTES = [health, ready, scrape]
