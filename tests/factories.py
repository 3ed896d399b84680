"""Test data: the demo network's people, plus users and cases built through the services."""

import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from referral.db.tables import Case, Network, Organisation, PanelMeeting, RoleAssignment, User
from referral.demo import PROVIDER_CONSENT_SCOPE, DemoWorld, seed_people
from referral.domain import clock, states
from referral.domain.actors import Actor
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Role
from referral.services import (
    consent,
    information,
    lifecycle,
    panel,
    referrals,
    screening,
    second_factor,
    support,
)
from referral.services.uow import Runtime, UnitOfWork

# Not a real hash: tests never sign in through it.
FAKE_HASH = "$argon2id$test-only"


def add_user(
    runtime: Runtime,
    world: DemoWorld,
    username: str,
    kind: OrgKind,
    *roles: Role,
    new_org: bool = False,
) -> Actor:
    """Another user in the demo network, optionally in an organisation of their own."""
    network_id = next(iter(world.actors.values())).network_id
    with runtime.session_factory() as session, session.begin():
        org_id = world.org_ids[kind]
        if new_org:
            org = Organisation(network_id=network_id, name=f"Other {kind}", kind=kind)
            session.add(org)
            session.flush()
            org_id = org.id
        user = User(
            username=username,
            display_name=username,
            organisation_id=org_id,
            password_hash=FAKE_HASH,
        )
        session.add(user)
        session.flush()
        session.add_all(
            RoleAssignment(user_id=user.id, network_id=network_id, role=r) for r in roles
        )
    actor = Actor(user.id, org_id, kind, network_id, "demo-city", frozenset(roles))
    world.actors[username] = actor
    return actor


def make_world(runtime: Runtime) -> DemoWorld:
    return seed_people(runtime)


def referral_command(**overrides: object) -> referrals.SubmitReferral:
    subject = referrals.SubjectDetails(
        given_name="Testy",
        family_name="Fixture",
        date_of_birth=date(2009, 5, 17),
        address="1 Fixture Lane",
        phone="+00 0000 111111",
        health="MARK-SPECIAL",
    )
    values: dict[str, object] = {
        "subject": subject,
        "concern_summary": "Synthetic concern for a test.",
        "concern_types": ("hate_targeting_a_group",),
        "narrative": "MARK-NARRATIVE",
        "consent_discussed": True,
    }
    values.update(overrides)
    return referrals.SubmitReferral(**values)  # type: ignore[arg-type]


def submit(world: DemoWorld, **overrides: object) -> int:
    return int(world.run("referrer", referrals.submit_referral, referral_command(**overrides)))


def later_today(now: datetime, zone: str = "Europe/London") -> datetime:
    """Some hours from now, but still today in the network's zone (the demo network's):
    a meeting then may be held, and its decisions recorded, without moving the clock."""
    local = clock.to_local(now, zone)
    last_minute = datetime.combine(local.date(), time(23, 59), tzinfo=local.tzinfo)
    return min(now + timedelta(hours=6), last_minute.astimezone(UTC))


def schedule(world: DemoWorld, runtime: Runtime, *invited: str, days: float | None = None) -> int:
    """A meeting `days` from now; by default later the same day (`later_today`)."""
    now = runtime.clock()
    command = panel.ScheduleMeeting(
        scheduled_for=later_today(now) if days is None else now + timedelta(days=days),
        chair_user_id=world.actors["chair"].user_id,
        attendee_user_ids=tuple(world.actors[name].user_id for name in ("panel", *invited)),
    )
    return int(world.run("coordinator", panel.schedule_meeting, command))


def to_information_gathering(world: DemoWorld) -> int:
    """A screened case whose partner agencies are to be asked (no request sent yet)."""
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "screener",
        screening.record_deconfliction,
        screening.RecordDeconfliction(case_id, "MARK-CRIMINAL", "no match"),
    )
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(
            case_id, "gather_information", screening_notes="MARK-ASSESSMENT"
        ),
    )
    return case_id


def to_awaiting_panel(world: DemoWorld) -> int:
    case_id = to_information_gathering(world)
    ids = world.run(
        "coordinator",
        information.send_information_requests,
        information.SendInformationRequests(case_id, (world.org_ids[OrgKind.HEALTH],), "Known?"),
    )
    for request_id in ids:
        world.run(
            "coordinator", information.record_answer, information.RecordAnswer(request_id, "No.")
        )
    world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "ready_for_panel"))
    return case_id


def to_consent_pending(world: DemoWorld, meeting_id: int, contribution: str = "") -> int:
    """A case the panel has decided to support, consent not yet asked; with `contribution`,
    the panel member's contribution to its deliberation at the panel."""
    case_id = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    if contribution:
        world.run(
            "panel",
            panel.add_contribution,
            panel.AddContribution(case_id, meeting_id, contribution),
        )
    hold(world, meeting_id)
    world.run(
        "chair",
        panel.record_panel_decision,
        panel.RecordDecision(case_id, meeting_id, "support", "MARK-DELIBERATION"),
    )
    return case_id


def hold(world: DemoWorld, meeting_id: int) -> None:
    """The chair marks the meeting as held (decisions are recorded once it is), unless
    it is held already."""
    held = states.name(states.MEETING, "held")
    with UnitOfWork(world.runtime) as uow:
        state = uow.unscoped("a test's meeting").scalar(
            select(PanelMeeting.state).where(PanelMeeting.id == meeting_id)
        )
        # By the trigger the workflow file names (tests rename them).
        to_held = [
            t.trigger
            for t in uow.workflow(panel.WORKFLOW).transitions_from(state or "")
            if t.dest == held
        ]
    if state != held and to_held:
        world.run("chair", panel.move_meeting, panel.MoveMeeting(meeting_id, to_held[0]))


def to_support(
    world: DemoWorld,
    meeting_id: int,
    scope: tuple[ConsentScope, ...] = PROVIDER_CONSENT_SCOPE,
    *,
    started: bool = True,
    contribution: str = "",
) -> tuple[int, int]:
    """A case in support with an active mentoring intervention by the civil-society provider;
    the consent's `scope` is the demo's unless given. With `started` false, the intervention
    is left as assigned (proposed), for a scope that does not let the provider reach it.
    `contribution` as for `to_consent_pending`."""
    case_id = to_consent_pending(world, meeting_id, contribution)
    world.run("coordinator", consent.request_consent, consent.RequestConsent(case_id))
    world.run(
        "coordinator",
        consent.record_consent,
        consent.RecordConsent(
            case_id, True, "in_person", scope, given_by="guardian", guardian_name="G"
        ),
    )
    world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "start_support"))
    intervention_id = int(
        world.run(
            "coordinator",
            support.assign_intervention,
            support.AssignIntervention(
                case_id, "mentoring", world.org_ids[OrgKind.CIVIL_SOCIETY], "MARK-SUPPORT"
            ),
        )
    )
    for trigger in ("accept", "start") if started else ():
        world.run(
            "provider",
            support.move_intervention,
            support.MoveIntervention(intervention_id, trigger),
        )
    return case_id, intervention_id


def audit_count(session: Session) -> int:
    from sqlalchemy import func, select

    from referral.db.tables import AuditEntry

    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def hide_from_coordinator(runtime: Runtime, policy_dir: Path, category: Category) -> None:
    """Run on a copy of the shipped policies in which the demo network's coordinators may
    not read `category` (a network's own deny rule), e.g. to give them a hidden category."""
    from referral.authz.enforcer import Authorizer
    from referral.config import PROJECT_ROOT

    shipped = PROJECT_ROOT / "policies"
    policy_dir.mkdir(parents=True, exist_ok=True)
    for name in ("model.conf", "default.csv"):
        shutil.copy(shipped / name, policy_dir / name)
    rule = f"p, coordinator, demo-city, {category}, read, true, -, -, deny\n"
    (policy_dir / "demo_city.csv").write_text(rule, encoding="utf-8")
    runtime.authz = Authorizer(policy_dir)


def subject_of(runtime: Runtime, case_id: int) -> int:
    """The subject a case is about."""
    with runtime.session_factory() as session:
        return int(session.scalars(select(Case.subject_id).where(Case.id == case_id)).one())


def reference_of(runtime: Runtime, case_id: int) -> str:
    """The reference people know a case by (`DEMO-2026-0001`)."""
    with runtime.session_factory() as session:
        return str(session.scalars(select(Case.reference).where(Case.id == case_id)).one())


def closed_no_action(world: DemoWorld, **overrides: object) -> int:
    """A submitted case screened out with no further action."""
    case_id = submit(world, **overrides)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, "close_no_action", screening_notes="none"),
    )
    return case_id


def enrol_second_factor(runtime: Runtime, user_id: int) -> tuple[str, list[str]]:
    """Set up a user's second factor through the services, as the enrolment page does:
    returns the TOTP secret and the recovery codes. The code that confirmed it belongs to
    the clock's current 30-second step, so the next code that counts is a later step's."""
    with UnitOfWork(runtime) as uow:
        second_factor.start_enrolment(uow, user_id)
        uow.commit()
    with UnitOfWork(runtime) as uow:
        enrolment = second_factor.enrolment(uow, user_id)
        assert enrolment is not None
        codes = second_factor.confirm(uow, user_id, totp_code(enrolment.secret, uow.now))
        assert codes is not None
        uow.commit()
    return enrolment.secret, codes


def totp_code(secret: str, at: datetime, steps_later: int = 0) -> str:
    """The code an authenticator app shows at `at` (or that many 30-second steps later)."""
    return str(pyotp.TOTP(secret).at(at + timedelta(seconds=30 * steps_later)))


def add_network_user(
    runtime: Runtime,
    slug: str,
    username: str,
    kind: OrgKind,
    *roles: Role,
    network_kind: str = "city",
    password_hash: str = FAKE_HASH,
) -> Actor:
    """A user of an organisation in network `slug` (created, of `network_kind`, if new),
    holding `roles` there: someone from another city, or from the national tier."""
    with runtime.session_factory() as session, session.begin():
        network = session.scalars(select(Network).where(Network.slug == slug)).first()
        if network is None:
            network = Network(slug=slug, name=f"{slug.title()} Network", kind=network_kind)
            session.add(network)
            session.flush()
        org = Organisation(network_id=network.id, name=f"{slug.title()} {kind}", kind=kind)
        session.add(org)
        session.flush()
        user = User(
            username=username,
            display_name=username,
            organisation_id=org.id,
            password_hash=password_hash,
        )
        session.add(user)
        session.flush()
        session.add_all(
            RoleAssignment(user_id=user.id, network_id=network.id, role=r) for r in roles
        )
        return Actor(user.id, org.id, kind, network.id, network.slug, frozenset(roles))
