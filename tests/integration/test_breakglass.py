"""Break-glass: a coordinator or dpo opens one hidden category of one case, for a while,
with a written justification; it is flagged in the log and reviewed by the dpo."""

from pathlib import Path

import pytest
from sqlalchemy import select

from referral.db.tables import AuditEntry, BreakGlassGrant, Network
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from referral.domain.vocabulary import Category, OrgKind, Role
from referral.services import access_report, breakglass
from referral.services.breakglass import OpenBreakGlass, RecordOutcome
from referral.services.referrals import CaseView, read_case
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TestClock
from tests.factories import (
    add_user,
    hide_from_coordinator,
    make_world,
    schedule,
    to_awaiting_panel,
    to_support,
)

WHY = "Imminent risk reported by the school this morning; need health context now."
MINUTES = 60
NOT_DRAFT = "!in_state(draft)"


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


@pytest.fixture
def case_id(world: DemoWorld) -> int:
    """A case with every marker planted: narrative, special, criminal, assessment."""
    return to_awaiting_panel(world)


def open_glass(
    world: DemoWorld, who: str, case_id: int, category: str, why: str = WHY, minutes: int = MINUTES
) -> int:
    command = OpenBreakGlass(case_id, category, why, minutes)
    return int(world.run(who, breakglass.open_break_glass, command))


def view(runtime: Runtime, world: DemoWorld, who: str, case_id: int) -> CaseView:
    with UnitOfWork(runtime) as uow:
        return read_case(uow, world.actors[who], case_id)


def visible(case_view: CaseView) -> set[Category]:
    return {f.category for f in case_view.fields.values() if f.visible}


def entries(runtime: Runtime, action: str) -> list[AuditEntry]:
    with runtime.session_factory() as session:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(stmt))


def queue(runtime: Runtime, actor: Actor) -> list[breakglass.QueuedGrant]:
    with UnitOfWork(runtime) as uow:
        return breakglass.review_queue(uow, actor)


# -- opening ------------------------------------------------------------------------------


def test_dpo_reads_a_broken_glass_category_only_while_the_grant_lasts(
    runtime: Runtime, world: DemoWorld, case_id: int, clock: TestClock
) -> None:
    before = visible(view(runtime, world, "dpo", case_id))
    assert Category.SPECIAL not in before
    grant_id = open_glass(world, "dpo", case_id, "special")

    during = view(runtime, world, "dpo", case_id)
    assert during.value("health") == "MARK-SPECIAL"
    assert visible(during) == before | {Category.SPECIAL}
    assert Category.SPECIAL not in during.hidden
    assert during.break_glass[Category.SPECIAL].grant_id == grant_id
    assert "MARK-CRIMINAL" not in repr(during.fields) + repr(during.linked)

    clock.advance(minutes=MINUTES + 1)
    after = view(runtime, world, "dpo", case_id)
    assert Category.SPECIAL not in visible(after)
    assert after.value("health") is None
    assert after.break_glass == {}
    assert Category.SPECIAL in after.hidden


def test_broken_glass_opens_the_categorys_linked_records(
    runtime: Runtime, world: DemoWorld, case_id: int
) -> None:
    assert "information_requests" not in view(runtime, world, "dpo", case_id).linked
    open_glass(world, "dpo", case_id, "assessment")
    case_view = view(runtime, world, "dpo", case_id)
    assert case_view.value("screening_notes") == "MARK-ASSESSMENT"
    assert case_view.linked["information_requests"]


def test_coordinator_breaks_glass_on_a_category_their_network_hides(
    runtime: Runtime, world: DemoWorld, case_id: int, tmp_path: Path
) -> None:
    hide_from_coordinator(runtime, tmp_path / "policies", Category.CRIMINAL)
    assert "MARK-CRIMINAL" not in repr(view(runtime, world, "coordinator", case_id).fields)
    open_glass(world, "coordinator", case_id, "criminal")
    case_view = view(runtime, world, "coordinator", case_id)
    assert "MARK-CRIMINAL" in repr(case_view.fields)
    assert set(case_view.break_glass) == {Category.CRIMINAL}


def test_a_grant_opens_nothing_to_anyone_else(
    runtime: Runtime, world: DemoWorld, case_id: int
) -> None:
    add_user(runtime, world, "dpo2", OrgKind.LOCAL_AUTHORITY, Role.DPO)
    open_glass(world, "dpo", case_id, "special")
    assert Category.SPECIAL not in visible(view(runtime, world, "dpo2", case_id))


@pytest.fixture
def supported_case(runtime: Runtime, world: DemoWorld) -> int:
    """A case every role of the demo network can see: on the panel's agenda, in support."""
    case_id, _ = to_support(world, schedule(world, runtime))
    return case_id


@pytest.mark.parametrize("who", ["screener", "panel", "provider", "referrer", "chair"])
def test_roles_without_break_glass_are_refused_and_the_refusal_audited(
    runtime: Runtime, world: DemoWorld, supported_case: int, who: str
) -> None:
    view(runtime, world, who, supported_case)  # the case is theirs to see
    with pytest.raises(PermissionDenied, match="may not break glass"):
        open_glass(world, who, supported_case, "criminal")
    refused = entries(runtime, "case:breakglass")[-1]
    assert refused.allowed is False
    assert refused.actor_user_id == world.actors[who].user_id
    assert refused.case_id == supported_case
    with runtime.session_factory() as session:
        assert session.scalars(select(BreakGlassGrant)).first() is None


def test_a_case_out_of_sight_is_not_found(runtime: Runtime, world: DemoWorld, case_id: int) -> None:
    with pytest.raises(NotFound):
        open_glass(world, "admin", case_id, "special")
    with pytest.raises(NotFound):
        open_glass(world, "dpo", 999_999, "special")


@pytest.mark.parametrize(
    ("category", "why", "minutes", "field"),
    [
        ("nonsense", WHY, MINUTES, "category"),
        ("", WHY, MINUTES, "category"),
        ("special", "", MINUTES, "justification"),
        ("special", "x" * 19, MINUTES, "justification"),
        ("special", "   " + "x" * 18 + "   ", MINUTES, "justification"),
        ("special", "x" * 4001, MINUTES, "justification"),
        ("special", WHY, 0, "minutes"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    runtime: Runtime,
    world: DemoWorld,
    case_id: int,
    category: str,
    why: str,
    minutes: int,
    field: str,
) -> None:
    with pytest.raises(InvalidInput) as raised:
        open_glass(world, "dpo", case_id, category, why, minutes)
    assert set(raised.value.errors) == {field}
    with runtime.session_factory() as session:
        assert session.scalars(select(BreakGlassGrant)).first() is None


def test_a_short_justification_says_how_much_to_write(world: DemoWorld, case_id: int) -> None:
    with pytest.raises(InvalidInput) as raised:
        open_glass(world, "dpo", case_id, "special", "urgent")
    assert "at least 20 characters" in raised.value.errors["justification"]


def test_every_problem_is_named_at_once(world: DemoWorld, case_id: int) -> None:
    with pytest.raises(InvalidInput) as raised:
        open_glass(world, "dpo", case_id, "nonsense", "")
    assert set(raised.value.errors) == {"category", "justification"}


@pytest.mark.parametrize("category", ["status", "consent"])
def test_a_category_already_visible_is_a_conflict(
    world: DemoWorld, case_id: int, category: str
) -> None:
    with pytest.raises(Conflict, match="already visible to you"):
        open_glass(world, "dpo", case_id, category)


def test_coordinator_under_the_shipped_policy_has_nothing_to_open(
    world: DemoWorld, case_id: int
) -> None:
    with pytest.raises(Conflict, match="already visible to you"):
        open_glass(world, "coordinator", case_id, "criminal")


def test_opening_again_while_a_grant_is_active_is_a_conflict(
    world: DemoWorld, case_id: int, clock: TestClock
) -> None:
    open_glass(world, "dpo", case_id, "special")
    clock.advance(minutes=MINUTES - 1)
    with pytest.raises(Conflict, match="already have break-glass access"):
        open_glass(world, "dpo", case_id, "special")
    open_glass(world, "dpo", case_id, "narrative")  # another category is its own grant
    clock.advance(minutes=2)
    open_glass(world, "dpo", case_id, "special")  # the first one has expired


# -- the audit log ------------------------------------------------------------------------


def test_opening_is_audited_with_its_category_rule_purpose_and_basis(
    runtime: Runtime, world: DemoWorld, case_id: int
) -> None:
    grant_id = open_glass(world, "dpo", case_id, "special")
    (entry,) = entries(runtime, "breakglass:open")
    assert entry.allowed is True
    assert entry.case_id == case_id
    assert entry.categories == "special"
    assert entry.target == f"break_glass_grant:{grant_id}"
    assert entry.rule == f"p, dpo, *, case, breakglass, {NOT_DRAFT}, audit, legal_obligation, allow"
    assert (entry.purpose, entry.legal_basis) == ("audit", "legal_obligation")
    assert entry.change_digest
    assert WHY not in repr(entry.__dict__)


def test_reading_under_break_glass_is_audited_apart_with_only_those_categories(
    runtime: Runtime, world: DemoWorld, case_id: int, clock: TestClock
) -> None:
    grant_id = open_glass(world, "dpo", case_id, "special")
    view(runtime, world, "dpo", case_id)
    (glass,) = entries(runtime, "breakglass:read")
    assert glass.categories == "special"
    assert glass.rule == f"break-glass grant #{grant_id}"
    assert glass.actor_user_id == world.actors["dpo"].user_id
    assert glass.case_id == case_id
    plain = entries(runtime, "case:read")[-1]
    assert "special" not in plain.categories.split(",")

    clock.advance(minutes=MINUTES + 1)
    view(runtime, world, "dpo", case_id)
    assert len(entries(runtime, "breakglass:read")) == 1


def test_access_report_flags_break_glass_and_counts_its_reads(
    runtime: Runtime, world: DemoWorld, case_id: int
) -> None:
    open_glass(world, "dpo", case_id, "special")
    view(runtime, world, "dpo", case_id)
    query = access_report.ReportQuery(access_report.Subject.CASE, case_id)
    with UnitOfWork(runtime) as uow:
        report = access_report.access_report(uow, world.actors["dpo"], query)
    flagged = {r.entry.action for r in report.rows if r.flags.break_glass}
    assert flagged == {"breakglass:open", "breakglass:read"}
    assert report.break_glass == 2
    special = next(s for s in report.summary if s.category == "special")
    assert special.reads == 1


# -- the dpo's review ---------------------------------------------------------------------


def test_review_queue_lists_the_grant_until_an_outcome_is_recorded(
    runtime: Runtime, world: DemoWorld, case_id: int, tmp_path: Path
) -> None:
    hide_from_coordinator(runtime, tmp_path / "policies", Category.CRIMINAL)
    first = open_glass(world, "coordinator", case_id, "criminal")
    second = open_glass(world, "dpo", case_id, "special")
    dpo = world.actors["dpo"]

    listed = queue(runtime, dpo)
    assert [g.grant_id for g in listed] == [first, second]
    assert listed[0].category == "criminal"
    assert listed[0].user_id == world.actors["coordinator"].user_id
    assert listed[0].user_name == "Casey Coordinator"
    assert listed[0].justification == WHY
    assert listed[0].active is True

    world.run("dpo", breakglass.record_outcome, RecordOutcome(first, "justified", "Checked."))
    assert [g.grant_id for g in queue(runtime, dpo)] == [second]
    with runtime.session_factory() as session:
        grant = session.get(BreakGlassGrant, first)
        assert grant is not None
        assert (grant.outcome, grant.outcome_notes) == ("justified", "Checked.")
        assert grant.reviewed_by == dpo.user_id
    (review,) = entries(runtime, "breakglass:review")
    assert review.target == f"break_glass_grant:{first}"
    assert review.case_id == case_id
    assert "Checked." not in repr(review.__dict__)
    assert entries(runtime, "breakglass:queue")


def test_an_outcome_is_recorded_once(world: DemoWorld, case_id: int) -> None:
    grant_id = open_glass(world, "dpo", case_id, "special")
    world.run("dpo", breakglass.record_outcome, RecordOutcome(grant_id, "referred"))
    with pytest.raises(Conflict, match="already reviewed"):
        world.run("dpo", breakglass.record_outcome, RecordOutcome(grant_id, "justified"))


def test_an_unknown_outcome_is_refused(runtime: Runtime, world: DemoWorld, case_id: int) -> None:
    grant_id = open_glass(world, "dpo", case_id, "special")
    with pytest.raises(InvalidInput) as raised:
        world.run("dpo", breakglass.record_outcome, RecordOutcome(grant_id, "fine"))
    assert raised.value.errors["outcome"]
    assert [g.grant_id for g in queue(runtime, world.actors["dpo"])] == [grant_id]


def test_not_justified_ends_the_access_at_once(
    runtime: Runtime, world: DemoWorld, case_id: int
) -> None:
    grant_id = open_glass(world, "dpo", case_id, "special")
    world.run("dpo", breakglass.record_outcome, RecordOutcome(grant_id, "not_justified"))
    assert Category.SPECIAL not in visible(view(runtime, world, "dpo", case_id))


def test_another_networks_dpo_neither_lists_nor_reviews_the_grant(
    runtime: Runtime, world: DemoWorld, case_id: int
) -> None:
    grant_id = open_glass(world, "dpo", case_id, "special")
    with runtime.session_factory() as session, session.begin():
        other = Network(slug="other-city", name="Other City")
        session.add(other)
        session.flush()
        other_id = other.id
    dpo = world.actors["dpo"]
    elsewhere = Actor(
        dpo.user_id, dpo.organisation_id, dpo.org_kind, other_id, "other-city", dpo.roles
    )
    assert queue(runtime, elsewhere) == []
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        breakglass.record_outcome(uow, elsewhere, RecordOutcome(grant_id, "justified"))
    with pytest.raises(NotFound):
        world.run("dpo", breakglass.record_outcome, RecordOutcome(999_999, "justified"))


@pytest.mark.parametrize("who", ["coordinator", "screener", "admin", "referrer"])
def test_only_the_dpo_reviews(runtime: Runtime, world: DemoWorld, case_id: int, who: str) -> None:
    grant_id = open_glass(world, "dpo", case_id, "special")
    with pytest.raises(PermissionDenied):
        queue(runtime, world.actors[who])
    with pytest.raises(PermissionDenied):
        world.run(who, breakglass.record_outcome, RecordOutcome(grant_id, "justified"))
    refused = entries(runtime, "breakglass:review")
    assert refused and all(not e.allowed for e in refused)
