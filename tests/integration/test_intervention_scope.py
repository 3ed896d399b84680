"""Conditions hold for the record acted on, and consent binds whole (DESIGN.md §4).

A provider assigned to a case meets another organisation's intervention on it as if it
did not exist: reading, moving or annotating it answers "not found", before any input or
state is looked at. A provider reads a case only as far as the consent's scope covers each
category for their kind of organisation and for support.
"""

import pytest
from sqlalchemy import select

from referral.db.tables import AuditEntry, ProgressNote
from referral.demo import PROVIDER_CONSENT_SCOPE, DemoWorld
from referral.domain.errors import Conflict, NotFound
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Purpose, Role
from referral.services import caseload, referrals, support
from referral.services.uow import Runtime
from tests.factories import add_user, make_world, schedule, to_support


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    world = make_world(runtime)
    add_user(runtime, world, "private_provider", OrgKind.PRIVATE_SECTOR, Role.PROVIDER)
    return world


@pytest.fixture
def two_interventions(runtime: Runtime, world: DemoWorld) -> tuple[int, int, int]:
    """(case, the civil-society provider's intervention, the private-sector one's): as in
    the issue, a second intervention on the case, assigned to another organisation."""
    # The consent lets the support plan go to both kinds of provider.
    scope = tuple(
        ConsentScope(grant.category, kind, grant.purpose)
        for grant in PROVIDER_CONSENT_SCOPE
        for kind in (OrgKind.CIVIL_SOCIETY, OrgKind.PRIVATE_SECTOR)
    )
    case_id, mine = to_support(world, schedule(world, runtime), scope)
    theirs = world.run(
        "coordinator",
        support.assign_intervention,
        support.AssignIntervention(
            case_id, "mentoring", world.org_ids[OrgKind.PRIVATE_SECTOR], "MARK-OTHER-PLAN"
        ),
    )
    return case_id, mine, theirs


def denials(runtime: Runtime, world: DemoWorld, target: str) -> list[AuditEntry]:
    with runtime.session_factory() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.actor_user_id == world.actors["provider"].user_id,
                    AuditEntry.target == target,
                    AuditEntry.allowed.is_(False),
                )
            )
        )


@pytest.mark.parametrize("trigger", ["accept", "decline", "start", "complete"])
def test_a_provider_cannot_move_another_organisations_intervention_on_their_case(
    runtime: Runtime, world: DemoWorld, two_interventions: tuple[int, int, int], trigger: str
) -> None:
    _, _, theirs = two_interventions
    with pytest.raises(NotFound, match=f"intervention {theirs} not found"):
        world.run("provider", support.move_intervention, support.MoveIntervention(theirs, trigger))
    (refused,) = denials(runtime, world, f"intervention:{theirs}")
    assert refused.action == "intervention:read" and refused.categories == "support"


def test_an_unknown_move_on_another_organisations_intervention_is_not_found_first(
    world: DemoWorld, two_interventions: tuple[int, int, int]
) -> None:
    """The trigger is input: an out-of-scope record answers 404 before it is validated."""
    _, _, theirs = two_interventions
    with pytest.raises(NotFound):
        world.run("provider", support.move_intervention, support.MoveIntervention(theirs, "fly"))


@pytest.mark.parametrize("body", ["A note.", "   "])
def test_a_provider_cannot_annotate_another_organisations_intervention(
    runtime: Runtime, world: DemoWorld, two_interventions: tuple[int, int, int], body: str
) -> None:
    """Not found, whatever the note says and whatever state the intervention is in (it is
    proposed, not active): the scope is checked before the input and the state."""
    _, _, theirs = two_interventions
    with pytest.raises(NotFound, match=f"intervention {theirs} not found"):
        world.run("provider", support.record_progress, support.RecordProgress(theirs, body))
    with runtime.session_factory() as session:
        notes = session.scalars(select(ProgressNote).where(ProgressNote.intervention_id == theirs))
        assert list(notes) == []


def test_a_provider_reads_only_their_own_organisations_interventions_and_notes(
    world: DemoWorld, two_interventions: tuple[int, int, int]
) -> None:
    case_id, mine, theirs = two_interventions
    for trigger in ("accept", "start"):
        move = support.MoveIntervention(theirs, trigger)
        world.run("private_provider", support.move_intervention, move)
    world.run(
        "private_provider", support.record_progress, support.RecordProgress(theirs, "MARK-THEIRS")
    )
    world.run("provider", support.record_progress, support.RecordProgress(mine, "MARK-MINE"))

    view = world.run("provider", referrals.read_case, case_id)
    assert [i["id"] for i in view.linked["interventions"]] == [mine]
    assert [n["body"] for n in view.linked["progress_notes"]] == ["MARK-MINE"]
    theirs_view = world.run("private_provider", referrals.read_case, case_id)
    assert [i["id"] for i in theirs_view.linked["interventions"]] == [theirs]
    assert [n["body"] for n in theirs_view.linked["progress_notes"]] == ["MARK-THEIRS"]
    everyone = world.run("coordinator", referrals.read_case, case_id)
    assert {i["id"] for i in everyone.linked["interventions"]} == {mine, theirs}
    assert {n["body"] for n in everyone.linked["progress_notes"]} == {"MARK-MINE", "MARK-THEIRS"}


def test_the_owning_provider_moves_their_intervention_on_a_rule_that_holds_for_it(
    runtime: Runtime, world: DemoWorld, two_interventions: tuple[int, int, int]
) -> None:
    _, _, theirs = two_interventions
    moved = world.run(
        "private_provider", support.move_intervention, support.MoveIntervention(theirs, "accept")
    )
    assert moved == "accepted"
    with runtime.session_factory() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "intervention:accept",
                AuditEntry.target == f"intervention:{theirs}",
                AuditEntry.allowed.is_(True),
            )
        ).one()
    assert entry.actor_user_id == world.actors["private_provider"].user_id
    assert entry.target == f"intervention:{theirs}"
    assert ", intervention, accept, assigned," in entry.rule


# -- consent binds whole ----------------------------------------------------------

SUPPORT_ONLY = (ConsentScope(Category.SUPPORT, OrgKind.CIVIL_SOCIETY, Purpose.SUPPORT),)


def test_a_provider_with_a_support_only_consent_reads_only_the_support_plan(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime), scope=SUPPORT_ONLY)
    view = world.run("provider", referrals.read_case, case_id)
    shown = {f.category for f in view.fields.values() if f.visible}
    assert shown == {Category.STATUS, Category.SUPPORT}
    assert view.value("support_plan") is not None
    for hidden in (Category.IDENTITY, Category.CONTACT, Category.CONCERN, Category.CONSENT):
        assert "consent covers that data" in view.hidden[hidden], hidden
    assert view.value("given_name") is None
    assert "consents" not in view.linked
    assert [i["plan"] for i in view.linked["interventions"]] == ["MARK-SUPPORT"]


def test_a_consent_for_another_purpose_or_kind_lets_the_provider_see_nothing(
    runtime: Runtime, world: DemoWorld
) -> None:
    """The scope covers the support plan, but for the panel, and for health: the provider
    (civil society, support) is not covered, so the case is not found at all."""
    elsewhere = (
        ConsentScope(Category.SUPPORT, OrgKind.CIVIL_SOCIETY, Purpose.PANEL),
        ConsentScope(Category.IDENTITY, OrgKind.HEALTH, Purpose.SUPPORT),
    )
    case_id, intervention_id = to_support(world, schedule(world, runtime), elsewhere, started=False)
    with pytest.raises(NotFound):
        world.run("provider", referrals.read_case, case_id)
    for trigger in ("accept", "decline"):
        move = support.MoveIntervention(intervention_id, trigger)
        with pytest.raises(NotFound):
            world.run("provider", support.move_intervention, move)


def test_a_withdrawn_intervention_is_no_longer_the_providers(
    world: DemoWorld, two_interventions: tuple[int, int, int]
) -> None:
    """Withdrawn, it is no longer assigned to them: gone from their list and their case
    page, and "not found" to move, while their live one on the case stays theirs."""
    case_id, mine, _ = two_interventions
    second = world.run(
        "coordinator",
        support.assign_intervention,
        support.AssignIntervention(
            case_id, "mentoring", world.org_ids[OrgKind.CIVIL_SOCIETY], "MARK-WITHDRAWN"
        ),
    )
    withdraw = support.MoveIntervention(second, "withdraw")
    assert world.run("coordinator", support.move_intervention, withdraw) == "withdrawn"
    listed = world.run("provider", caseload.list_interventions, caseload.ListInterventions())
    assert [row.intervention_id for row in listed] == [mine]
    view = world.run("provider", referrals.read_case, case_id)
    assert [i["id"] for i in view.linked["interventions"]] == [mine]
    with pytest.raises(NotFound):
        world.run("provider", support.move_intervention, support.MoveIntervention(second, "start"))


def test_progress_on_an_intervention_not_under_way_is_a_conflict_naming_its_state(
    runtime: Runtime, world: DemoWorld, two_interventions: tuple[int, int, int]
) -> None:
    """The provider's own intervention, still proposed: its state is what is wrong (409),
    said in the intervention workflow's words, and nothing is written."""
    _, _, theirs = two_interventions
    note = support.RecordProgress(theirs, "A note.")
    with pytest.raises(Conflict, match="in state “Active”; this one is “Proposed”"):
        world.run("private_provider", support.record_progress, note)
    with runtime.session_factory() as session:
        notes = session.scalars(select(ProgressNote).where(ProgressNote.intervention_id == theirs))
        assert list(notes) == []
