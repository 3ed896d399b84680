"""Repeat-referral linkage over the API: a case's possible earlier referrals, the question
to the other network and its answer, and the national coordinator's list of alerts.
Status level only: networks, years, states, similarity; never anything of the person."""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from litestar import get, post
from litestar.params import JSONBody, QueryParameter
from msgspec import Struct

from referral.services import linkage
from referral.web.api.models import PathId, errors
from referral.web.deps import CurrentActor, Uow

TAGS = ["linkage"]


class LinkOut(Struct):
    alert_id: int
    direction: str  # "earlier": a possible earlier referral; "later": another asks about this
    network: str
    year: int
    state: str
    similarity: float
    status: str  # possible, asked, confirmed, rejected
    may_ask: bool
    may_answer: bool


class LinksOut(Struct):
    links: list[LinkOut]


class AnswerIn(Struct, forbid_unknown_fields=True):
    confirm: bool


class AnsweredOut(Struct):
    status: str


class AlertOut(Struct):
    alert_id: int
    network: str
    year: int
    state: str
    earlier_network: str
    earlier_year: int
    earlier_state: str
    similarity: float
    status: str
    created_at: datetime


class AlertsOut(Struct):
    alerts: list[AlertOut]


@get(
    "/api/cases/{case_id:int}/links",
    tags=TAGS,
    summary="A case's possible earlier referrals",
    sync_to_thread=True,
    responses=errors(403, 404),
)
def case_links(uow: Uow, actor: CurrentActor, case_id: PathId) -> LinksOut:
    """Coordinator: the possible earlier referrals of the case's subject (in any network
    but a training one) and other networks' questions about this case. Audited."""
    views = linkage.links_of_case(uow, actor, case_id)
    return LinksOut(
        [LinkOut(**asdict(v), may_ask=v.may_ask, may_answer=v.may_answer) for v in views]
    )


@post(
    "/api/links/{alert_id:int}/ask",
    tags=TAGS,
    summary="Ask the other network to confirm a possible earlier referral",
    status_code=204,
    sync_to_thread=True,
    responses=errors(403, 404, 409),
)
def ask(uow: Uow, actor: CurrentActor, alert_id: PathId) -> None:
    """The new case's coordinator; recorded in both networks' audit logs."""
    linkage.ask_to_confirm(uow, actor, linkage.AskToConfirm(alert_id))


@post(
    "/api/links/{alert_id:int}/answer",
    tags=TAGS,
    summary="Confirm or reject a link another network asks about",
    status_code=200,
    sync_to_thread=True,
    responses=errors(400, 403, 404, 409, 413, 415, 422),
)
def answer(
    uow: Uow, actor: CurrentActor, alert_id: PathId, data: JSONBody[AnswerIn]
) -> AnsweredOut:
    """The earlier case's coordinator; recorded on both sides and in both audit logs."""
    return AnsweredOut(linkage.answer_link(uow, actor, linkage.AnswerLink(alert_id, data.confirm)))


@get(
    "/api/linkage/alerts",
    tags=TAGS,
    summary="Repeat-referral alerts across networks (national coordinator)",
    sync_to_thread=True,
    responses=errors(400, 403),
)
def alerts(
    uow: Uow,
    actor: CurrentActor,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 200,
) -> AlertsOut:
    """Newest first, status level only: states, years, network names. Audited."""
    return AlertsOut([AlertOut(**asdict(a)) for a in linkage.national_alerts(uow, actor, limit)])


ROUTES = [case_links, ask, answer, alerts]
