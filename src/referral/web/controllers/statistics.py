"""The analyst's statistics page: national aggregates with charts, small cells suppressed."""

from typing import Any

from litestar import Request, get

from referral.config import Settings
from referral.domain.errors import InvalidInput
from referral.services import statistics
from referral.services.uow import UnitOfWork
from referral.web.charts import bar_chart
from referral.web.controllers import binding
from referral.web.deps import ONE_STEP, Viewer, read_as_viewer
from referral.web.render import page

# The service's filter names -> the page's fields (the page picks one of each).
FIELDS = {"networks": "network", "tables": "table"}


@get("/statistics", name="statistics", opt=ONE_STEP)
async def statistics_page(request: Request[Any, Any, Any]) -> Any:
    settings: Settings = request.app.state.settings
    threshold = settings.statistics_threshold

    def work(uow: UnitOfWork, viewer: Viewer) -> Any:
        values = binding.query(request)
        params = {
            "networks": values.get("network", ""),
            "tables": values.get("table", ""),
            "since": values.get("since", "").strip(),
            "until": values.get("until", "").strip(),
        }
        errors: dict[str, str] = {}
        try:
            query = statistics.query_from_params(params, threshold)
            publication = statistics.national_statistics(uow, viewer.actor, query)
        except InvalidInput as exc:
            errors = {
                ("network" if k == "networks" else k.rstrip("s")): v for k, v in exc.errors.items()
            }
            query = statistics.StatisticsQuery(threshold=threshold)
            publication = statistics.national_statistics(uow, viewer.actor, query)
        charts = {
            t.key: bar_chart(
                f"chart-{t.key}",
                f"{t.title}, all networks",
                [(label, total) for (_, label), total in zip(t.columns, t.totals, strict=True)],
            )
            for t in publication.tables
        }
        return page(
            request,
            "statistics/index.html",
            viewer,
            publication=publication,
            charts=charts,
            dimensions=statistics.DIMENSIONS,
            values=values,
            errors=errors,
            status_code=422 if errors else 200,
        )

    return await read_as_viewer(request, work)


ROUTES = [statistics_page]
