"""One door to the data: a scope built for an actor sees its own network's rows and
nothing of another's, and services reached with another network's ids answer "not found".

The outsider is each demo user acting in a second network (same person, same roles):
only the network differs, so every refusal below is the scope's doing.
"""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from referral.db.base import Base
from referral.db.tables import (
    AgendaItem,
    BreakGlassGrant,
    Case,
    Consent,
    ConsentScopeRow,
    Contribution,
    Decision,
    InformationRequest,
    Intervention,
    MeetingAttendee,
    Network,
    Notification,
    Organisation,
    PanelMeeting,
    ProgressNote,
    RoleAssignment,
    Subject,
    User,
)
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.errors import NotFound
from referral.services import (
    actions,
    admin,
    breakglass,
    caseload,
    information,
    meetings,
    notifications,
    panel,
    referrals,
    support,
)
from referral.services.scope import UnscopedQuery
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import make_world, schedule, to_support

# Every table a service reaches by id, with or without a network_id of its own.
SCOPED = [
    Network,
    Organisation,
    User,
    Subject,
    Case,
    InformationRequest,
    Consent,
    ConsentScopeRow,
    PanelMeeting,
    MeetingAttendee,
    AgendaItem,
    Contribution,
    Decision,
    Intervention,
    ProgressNote,
    BreakGlassGrant,
    Notification,
    RoleAssignment,
]


class Demo:
    def __init__(self, world: DemoWorld, meeting_id: int, case_id: int, intervention_id: int):
        self.world = world
        self.meeting_id = meeting_id
        self.case_id = case_id
        self.intervention_id = intervention_id


@pytest.fixture
def demo(runtime: Runtime) -> Demo:
    world = make_world(runtime)
    meeting_id = schedule(world, runtime)
    case_id, intervention_id = to_support(world, meeting_id, contribution="MARK-CONTRIBUTION")
    world.run("provider", support.record_progress, support.RecordProgress(intervention_id, "Met."))
    world.run(
        "dpo",
        breakglass.open_break_glass,
        breakglass.OpenBreakGlass(case_id, "special", "Safeguarding emergency, checked.", 30),
    )
    return Demo(world, meeting_id, case_id, intervention_id)


@pytest.fixture
def elsewhere(runtime: Runtime) -> int:
    with runtime.session_factory() as session, session.begin():
        other = Network(slug="elsewhere", name="Elsewhere")
        session.add(other)
        session.flush()
        return other.id


def outsider(demo: Demo, who: str, network_id: int) -> Actor:
    """The demo user `who`, with all their roles, acting in another network."""
    a = demo.world.actors[who]
    return Actor(a.user_id, a.organisation_id, a.org_kind, network_id, "elsewhere", a.roles)


def ids_of(runtime: Runtime, model: type[Base]) -> list[int]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(model.id)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("model", SCOPED, ids=lambda m: m.__name__)
def test_every_row_is_got_in_its_own_network_and_is_none_in_another(
    runtime: Runtime, demo: Demo, elsewhere: int, model: type[Base]
) -> None:
    ids = [i for i in ids_of(runtime, model) if model is not Network or i != elsewhere]
    assert ids, f"the demo holds no {model.__name__} to look for"
    inside = demo.world.actors["coordinator"]
    with UnitOfWork(runtime) as uow:
        mine = uow.scoped(inside)
        theirs = uow.scoped(outsider(demo, "coordinator", elsewhere))
        assert [mine.get(model, i) is not None for i in ids] == [True] * len(ids)
        assert [theirs.get(model, i) for i in ids] == [None] * len(ids)


@pytest.mark.parametrize(
    "model", [Organisation, Subject, Case, PanelMeeting, BreakGlassGrant, Notification]
)
def test_select_filters_every_table_it_names_to_the_network(
    runtime: Runtime, demo: Demo, elsewhere: int, model: type[Base]
) -> None:
    with UnitOfWork(runtime) as uow:
        mine = uow.scoped(demo.world.actors["coordinator"])
        theirs = uow.scoped(outsider(demo, "coordinator", elsewhere))
        assert mine.all(mine.select(model))
        assert theirs.all(theirs.select(model)) == []
        assert theirs.count(model) == 0


def test_the_network_itself_is_the_only_network_a_scope_selects(
    runtime: Runtime, demo: Demo, elsewhere: int
) -> None:
    with UnitOfWork(runtime) as uow:
        theirs = uow.scoped(outsider(demo, "coordinator", elsewhere))
        assert [n.id for n in theirs.all(theirs.select(Network))] == [elsewhere]


def test_a_join_is_filtered_on_every_scoped_table_and_on_the_policy(
    runtime: Runtime, demo: Demo, elsewhere: int
) -> None:
    with UnitOfWork(runtime) as uow:
        mine = uow.scoped(demo.world.actors["provider"])
        theirs = uow.scoped(outsider(demo, "provider", elsewhere))
        joined = [
            scope.execute(
                scope.select(Intervention, Case, readable=("support", "read")).join(
                    Case, Case.id == Intervention.case_id
                )
            ).all()
            for scope in (mine, theirs)
        ]
        assert [len(rows) for rows in joined] == [1, 0]
        # The referrer of the demo network may not read the support plan: policy, not network.
        referrer = uow.scoped(demo.world.actors["referrer"])
        assert referrer.all(referrer.cases("support", "read")) == []
        assert [c.id for c in mine.all(mine.cases("support", "read"))] == [demo.case_id]


def test_a_statement_the_scope_did_not_build_is_refused(
    runtime: Runtime, demo: Demo, elsewhere: int
) -> None:
    with UnitOfWork(runtime) as uow:
        mine = uow.scoped(demo.world.actors["coordinator"])
        theirs = uow.scoped(outsider(demo, "coordinator", elsewhere))
        with pytest.raises(UnscopedQuery):
            mine.scalars(select(Case))
        with pytest.raises(UnscopedQuery):
            theirs.execute(mine.select(Case))
        with pytest.raises(UnscopedQuery):
            mine.where(AgendaItem)


def test_add_refuses_a_row_of_another_network(runtime: Runtime, demo: Demo, elsewhere: int) -> None:
    with UnitOfWork(runtime) as uow:
        theirs = uow.scoped(outsider(demo, "coordinator", elsewhere))
        agenda = AgendaItem(meeting_id=demo.meeting_id, case_id=demo.case_id, position=9)
        with pytest.raises(NotFound):
            theirs.add(agenda)
        with pytest.raises(NotFound):
            theirs.add(Organisation(network_id=demo.world.actors["admin"].network_id, name="x"))
        assert agenda not in uow.session.new


def first_id(runtime: Runtime, model: type[Base]) -> int:
    ids = ids_of(runtime, model)
    assert ids
    return ids[0]


Call = Callable[[UnitOfWork, Actor, Demo, Runtime], Any]

SERVICES: dict[str, tuple[str, Call]] = {
    "read_case": ("coordinator", lambda u, a, d, r: referrals.read_case(u, a, d.case_id)),
    "case_page": ("coordinator", lambda u, a, d, r: actions.case_page(u, a, d.case_id)),
    "show_meeting": (
        "coordinator",
        lambda u, a, d, r: meetings.show_meeting(u, a, meetings.ShowMeeting(d.meeting_id)),
    ),
    "set_agenda": (
        "coordinator",
        lambda u, a, d, r: panel.set_agenda(u, a, panel.SetAgenda(d.meeting_id, (d.case_id,))),
    ),
    "show_intervention": (
        "provider",
        lambda u, a, d, r: caseload.show_intervention(
            u, a, caseload.ShowIntervention(d.intervention_id)
        ),
    ),
    "move_intervention": (
        "provider",
        lambda u, a, d, r: support.move_intervention(
            u, a, support.MoveIntervention(d.intervention_id, "complete")
        ),
    ),
    "record_progress": (
        "provider",
        lambda u, a, d, r: support.record_progress(
            u, a, support.RecordProgress(d.intervention_id, "x")
        ),
    ),
    "record_answer": (
        "coordinator",
        lambda u, a, d, r: information.record_answer(
            u, a, information.RecordAnswer(first_id(r, InformationRequest), "x")
        ),
    ),
    "answer_request": (
        "coordinator",
        lambda u, a, d, r: actions.answer_request(
            u, a, actions.AnswerRequest(d.case_id, first_id(r, InformationRequest), "x")
        ),
    ),
    "mark_read": (
        "coordinator",
        lambda u, a, d, r: notifications.mark_read(
            u, a, notifications.MarkRead(first_id(r, Notification))
        ),
    ),
    "record_outcome": (
        "dpo",
        lambda u, a, d, r: breakglass.record_outcome(
            u, a, breakglass.RecordOutcome(first_id(r, BreakGlassGrant), "justified")
        ),
    ),
    "change_role": (
        "admin",
        lambda u, a, d, r: admin.change_role(
            u, a, admin.ChangeRole(d.world.actors["referrer"].user_id, "screener", True)
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_reached_with_another_networks_id_answers_not_found(
    runtime: Runtime, demo: Demo, elsewhere: int, name: str
) -> None:
    who, call = SERVICES[name]
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        call(uow, outsider(demo, who, elsewhere), demo, runtime)
