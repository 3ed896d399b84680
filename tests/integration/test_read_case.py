"""Invariant 2: no field is returned unless its category is allowed to that viewer, for
that case, now; a hidden field says why. A case out of scope is "not found"."""

from dataclasses import asdict

import pytest

from referral.demo import DemoWorld
from referral.domain.errors import NotFound
from referral.domain.vocabulary import Category, OrgKind, Role
from referral.services import referrals, support
from referral.services.referrals import CaseView, ListCases, list_cases, read_case
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import add_user, make_world, schedule, submit, to_support

MARKERS = {
    Category.NARRATIVE: "MARK-NARRATIVE",
    Category.SPECIAL: "MARK-SPECIAL",
    Category.CRIMINAL: "MARK-CRIMINAL",
    Category.ASSESSMENT: "MARK-ASSESSMENT",
    Category.DELIBERATION: "MARK-DELIBERATION",
    Category.SUPPORT: "MARK-SUPPORT",
}


def view(runtime: Runtime, world: DemoWorld, who: str, case_id: int) -> CaseView:
    with UnitOfWork(runtime) as uow:
        return read_case(uow, world.actors[who], case_id)


def shown(case_view: CaseView) -> str:
    """Everything a viewer receives, as text: the planted markers must not be in it."""
    visible = {name: f.value for name, f in case_view.fields.items() if f.visible}
    return (
        repr(visible)
        + repr(case_view.linked)
        + repr([asdict(f) for f in case_view.fields.values() if not f.visible])
    )


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    world = make_world(runtime)
    add_user(runtime, world, "other_referrer", OrgKind.EDUCATION, Role.REFERRER, new_org=True)
    add_user(runtime, world, "other_provider", OrgKind.YOUTH, Role.PROVIDER, new_org=True)
    add_user(runtime, world, "police_panel", OrgKind.POLICE, Role.PANEL_MEMBER)
    return world


@pytest.fixture
def supported_case(runtime: Runtime, world: DemoWorld) -> int:
    meeting_id = schedule(world, runtime, "police_panel")
    case_id, _ = to_support(world, meeting_id)
    return case_id


EXPECTED_VISIBLE = {
    "coordinator": set(Category),
    "screener": {
        "status",
        "identity",
        "contact",
        "concern",
        "narrative",
        "criminal",
        "assessment",
        "consent",
    },
    "panel": set(Category) - {Category.CRIMINAL},
    "police_panel": set(Category) - {Category.SPECIAL},
    "provider": {"status", "identity", "contact", "concern", "support", "consent"},
    "dpo": {"status", "consent"},
    "referrer": {"status", "identity", "contact", "concern", "narrative"},
}


@pytest.mark.parametrize("who", sorted(EXPECTED_VISIBLE))
def test_each_role_sees_exactly_its_categories_and_no_hidden_marker(
    runtime: Runtime, world: DemoWorld, supported_case: int, who: str
) -> None:
    case_view = view(runtime, world, who, supported_case)
    visible = {f.category for f in case_view.fields.values() if f.visible}
    field_categories = {f.category for f in case_view.fields.values()}
    assert visible == EXPECTED_VISIBLE[who] & field_categories
    text = shown(case_view)
    for category, marker in MARKERS.items():
        if category not in EXPECTED_VISIBLE[who]:
            assert marker not in text, f"{who} received {category}"
    for f in case_view.fields.values():
        if not f.visible:
            assert f.value is None, f"{f.name} hidden but has a value"
            assert f.reason, f"{f.name} hidden without a reason"
    assert ("decisions" in case_view.linked) == (Category.DELIBERATION in EXPECTED_VISIBLE[who])
    assert ("consents" in case_view.linked) == (Category.CONSENT in EXPECTED_VISIBLE[who])


@pytest.mark.parametrize("who", ["other_referrer", "other_provider", "admin"])
def test_case_out_of_scope_is_not_found(
    runtime: Runtime, world: DemoWorld, supported_case: int, who: str
) -> None:
    with pytest.raises(NotFound):
        view(runtime, world, who, supported_case)


def test_unknown_case_is_not_found(runtime: Runtime, world: DemoWorld) -> None:
    with pytest.raises(NotFound):
        view(runtime, world, "coordinator", 999_999)


def test_panel_member_loses_the_case_after_the_meeting_window(
    runtime: Runtime, world: DemoWorld, supported_case: int, clock: object
) -> None:
    assert view(runtime, world, "panel", supported_case).case_id == supported_case
    clock.advance(days=9)
    with pytest.raises(NotFound):
        view(runtime, world, "panel", supported_case)


def test_referrer_lists_only_own_referrals(runtime: Runtime, world: DemoWorld) -> None:
    mine = submit(world)
    theirs = int(
        world.run(
            "other_referrer",
            referrals.submit_referral,
            referrals.SubmitReferral(
                subject=referrals.SubjectDetails("Other", "Person"),
                concern_summary="x",
                concern_types=("other",),
            ),
        )
    )
    with UnitOfWork(runtime) as uow:
        listed = {c.case_id for c in list_cases(uow, world.actors["referrer"], ListCases())}
    assert mine in listed
    assert theirs not in listed


def test_reading_a_case_is_audited_with_its_categories(
    runtime: Runtime, world: DemoWorld, supported_case: int
) -> None:
    from sqlalchemy import select

    from referral.db.tables import AuditEntry

    view(runtime, world, "provider", supported_case)
    with runtime.session_factory() as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "case:read")
            .order_by(AuditEntry.id.desc())
        ).first()
    assert entry is not None
    assert entry.actor_user_id == world.actors["provider"].user_id
    assert "criminal" not in entry.categories.split(",")
    assert "support" in entry.categories.split(",")


def test_each_list_of_linked_records_comes_in_the_order_it_was_recorded(
    runtime: Runtime, world: DemoWorld, supported_case: int
) -> None:
    for plan in ("second plan", "third plan"):
        world.run(
            "coordinator",
            support.assign_intervention,
            support.AssignIntervention(
                supported_case, "mentoring", world.org_ids[OrgKind.CIVIL_SOCIETY], plan
            ),
        )
    case_view = view(runtime, world, "coordinator", supported_case)
    plans = [row["plan"] for row in case_view.linked["interventions"]]
    assert plans == ["MARK-SUPPORT", "second plan", "third plan"]
    for rows in case_view.linked.values():
        ids = [row["id"] for row in rows]
        assert ids == sorted(ids)
