"""National statistics as JSON: the analyst's aggregates, small cells suppressed."""

from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter
from msgspec import Struct

from referral.config import Settings
from referral.services import statistics
from referral.web.api.models import errors
from referral.web.deps import ONE_STEP, read_as_actor


class RowOut(Struct):
    network: str
    slug: str
    cells: list[int | None]  # null: suppressed
    total: int | None


class TableOut(Struct):
    key: str
    title: str
    columns: list[str]
    labels: list[str]
    rows: list[RowOut]
    totals: list[int | None]
    grand_total: int | None


class StageTimesOut(Struct):
    network: str
    slug: str
    quarter: str
    stage: str
    # Days from submission: 25th, 50th and 75th percentile; null: fewer cases than the
    # threshold reached the stage.
    quartiles: list[int] | None


class StatisticsOut(Struct):
    threshold: int
    as_of: datetime | None  # when published (`referral stats refresh`); null: counted now
    tables: list[TableOut]
    stage_times: list[StageTimesOut]

    @classmethod
    def of(cls, p: statistics.Publication) -> "StatisticsOut":
        return cls(
            threshold=p.threshold,
            as_of=p.as_of,
            tables=[
                TableOut(
                    key=t.key,
                    title=t.title,
                    columns=[c for c, _ in t.columns],
                    labels=[label for _, label in t.columns],
                    rows=[RowOut(r.network, r.slug, list(r.cells), r.total) for r in t.rows],
                    totals=list(t.totals),
                    grand_total=t.grand_total,
                )
                for t in p.tables
            ],
            stage_times=[
                StageTimesOut(
                    s.network,
                    s.slug,
                    s.quarter,
                    s.stage,
                    list(s.quartiles) if s.quartiles else None,
                )
                for s in p.times
            ],
        )


@get(
    "/api/statistics",
    tags=["statistics"],
    summary="National statistics (analysts)",
    responses=errors(403, 422),
    opt=ONE_STEP,
)
async def read_statistics(
    request: Request[Any, Any, Any],
    networks: Annotated[
        list[str] | None,
        QueryParameter(name="network", description="Only these networks' rows (slugs, repeatable)"),
    ] = None,
    tables: Annotated[
        list[str] | None,
        QueryParameter(
            name="table",
            description="Only these tables (repeatable): " + ", ".join(statistics.DIMENSIONS),
        ),
    ] = None,
    since: Annotated[str, QueryParameter(description="First quarter shown, as 2026-Q1")] = "",
    until: Annotated[str, QueryParameter(description="Last quarter shown, as 2026-Q4")] = "",
) -> StatisticsOut:
    """Referrals per network by quarter, referring organisation kind, outcome, age band and
    concern type, with totals; and the days cases took to reach screening, panel and
    support. Counts below the threshold are null, and so are enough others that none can
    be worked out from the totals. Filters pick rows and tables out of one suppressed
    publication; training networks are never counted. Needs `statistics:read` in the
    national network; the read is audited."""
    settings: Settings = request.app.state.settings
    params = {
        "networks": ",".join(networks or ()),
        "tables": ",".join(tables or ()),
        "since": since,
        "until": until,
    }
    query = statistics.query_from_params(params, settings.statistics_threshold)
    return await read_as_actor(
        request,
        lambda uow, actor: StatisticsOut.of(statistics.national_statistics(uow, actor, query)),
    )


ROUTES = [read_statistics]
