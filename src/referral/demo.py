"""A synthetic demo network, built through the services so the audit log holds its history.

Every name here is invented. Every demo password is 'demo-password': demo only, never
for a real deployment.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeVar

from sqlalchemy import func, select

from referral.db.repositories import Repositories
from referral.db.tables import Network, Organisation, RoleAssignment, User
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.errors import ConfigurationError, Conflict
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, ConcernType, OrgKind, Purpose, Role
from referral.security import hash_password
from referral.services import consent, information, lifecycle, panel, referrals, screening, support
from referral.services.erasure import EraseCase, erase_case
from referral.services.screening import StartScreening
from referral.services.uow import Runtime, UnitOfWork

C = TypeVar("C")
R = TypeVar("R")

DEMO_PASSWORD = "demo-password"  # noqa: S105 - documented demo-only credential
NETWORK_SLUG = "demo-city"

# username -> (display name, organisation kind, roles)
DEMO_USERS: dict[str, tuple[str, OrgKind, tuple[Role, ...]]] = {
    "referrer": ("Riley Referrer (teacher)", OrgKind.EDUCATION, (Role.REFERRER,)),
    "coordinator": ("Casey Coordinator", OrgKind.LOCAL_AUTHORITY, (Role.COORDINATOR,)),
    "screener": ("Sam Screener (police gateway)", OrgKind.POLICE, (Role.SCREENER,)),
    "panel": ("Pat Panel (health)", OrgKind.HEALTH, (Role.PANEL_MEMBER,)),
    "chair": ("Charlie Chair", OrgKind.LOCAL_AUTHORITY, (Role.PANEL_CHAIR,)),
    "provider": ("Parker Provider (mentoring)", OrgKind.CIVIL_SOCIETY, (Role.PROVIDER,)),
    "health_contact": (
        "Harper Health (health agency contact)",
        OrgKind.HEALTH,
        (Role.AGENCY_CONTACT,),
    ),
    "dpo": ("Dana DPO", OrgKind.LOCAL_AUTHORITY, (Role.DPO,)),
    "admin": ("Alex Admin", OrgKind.LOCAL_AUTHORITY, (Role.ADMIN,)),
}

GIVEN = ["Alex", "Jordan", "Taylor", "Morgan", "Robin", "Jamie", "Quinn", "Avery", "Rowan"]
FAMILY = ["Example", "Sample", "Placeholder", "Fictional", "Demo", "Testcase", "Madeup"]

# The reference workflow's states, each reached by a prefix of one walk or a branch off it.
TARGETS = [
    "draft", "submitted", "screening", "closed_no_action", "signposted", "police_led",
    "transferred", "information_gathering", "awaiting_panel", "panel_review",
    "closed_consent_refused", "consent_pending", "support", "closed_consent_withdrawn",
    "review", "exited", "follow_up_6m", "follow_up_12m", "closed", "erased",
    "screening", "support", "awaiting_panel", "information_gathering",
]  # fmt: skip


@dataclass
class DemoWorld:
    runtime: Runtime
    actors: dict[str, Actor]
    org_ids: dict[OrgKind, int]
    meeting_id: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(20261128))  # noqa: S311

    def run(self, who: str, service: Callable[[UnitOfWork, Actor, C], R], command: C) -> R:
        """Run one service as the named demo user, in a unit of work of its own."""
        with UnitOfWork(self.runtime, request_id="demo") as uow:
            return service(uow, self.actors[who], command)


def seed_demo(runtime: Runtime, *, skip_if_populated: bool = False) -> str:
    with runtime.session_factory() as session:
        if session.scalar(select(func.count()).select_from(User)):
            if skip_if_populated:
                return "demo skipped: the database already has users"
            raise Conflict("the database already has users: the demo needs an empty database")
    _require_the_scripted_workflow(runtime)
    world = seed_people(runtime)
    invited = (world.actors["panel"].user_id, world.actors["coordinator"].user_id)
    meeting = panel.ScheduleMeeting(
        scheduled_for=runtime.clock() + timedelta(days=1),
        chair_user_id=world.actors["chair"].user_id,
        attendee_user_ids=invited,
        location="Town hall, room 2",
    )
    world.meeting_id = world.run("coordinator", panel.schedule_meeting, meeting)
    for target in TARGETS:
        _walk_to(world, target)
    return f"demo seeded: {len(DEMO_USERS)} users, {len(TARGETS)} cases in network '{NETWORK_SLUG}'"


# The referral workflow's triggers the demo's script fires by name, beside the states of
# TARGETS: the demo is synthetic data for the shipped files, not part of the product.
SCRIPTED_TRIGGERS = frozenset(
    {
        "gather_information", "close_no_action", "signpost", "refer_to_police",
        "ready_for_panel", "start_support", "start_review", "exit_support",
        "follow_up_6m", "follow_up_12m", "close", "transfer",
    }
)  # fmt: skip


def _require_the_scripted_workflow(runtime: Runtime) -> None:
    """Refuse, before writing anything, a referral workflow the script cannot walk (one a
    network renamed): the product runs on it; the demo's script does not."""
    workflow = runtime.workflows[referrals.REFERRAL_WORKFLOW]
    lacking = (set(TARGETS) - set(workflow.state_names)) | (SCRIPTED_TRIGGERS - workflow.triggers)
    if lacking:
        missing = ", ".join(sorted(lacking))
        raise ConfigurationError(
            f"{workflow.path}: the demo scripts the shipped referral workflow, and this file"
            f" has no {missing}: seed the demo with the shipped workflows"
        )


def seed_people(runtime: Runtime) -> DemoWorld:
    with runtime.session_factory() as session, session.begin():
        network = Network(slug=NETWORK_SLUG, name="Demo City Prevention Network")
        session.add(network)
        session.flush()
        organisations = {
            kind: Organisation(
                network_id=network.id, name=f"Demo {kind.replace('_', ' ')}", kind=kind
            )
            for kind in OrgKind
        }
        session.add_all(organisations.values())
        session.flush()
        password_hash = hash_password(DEMO_PASSWORD)
        actors = {}
        for username, (display, kind, roles) in DEMO_USERS.items():
            user = User(
                username=username,
                display_name=display,
                email=f"{username}@demo.invalid",
                organisation_id=organisations[kind].id,
                password_hash=password_hash,
            )
            session.add(user)
            session.flush()
            session.add_all(
                RoleAssignment(user_id=user.id, network_id=network.id, role=r) for r in roles
            )
            actors[username] = Actor(
                user.id, user.organisation_id, kind, network.id, network.slug, frozenset(roles)
            )
        org_ids = {kind: org.id for kind, org in organisations.items()}
    return DemoWorld(runtime, actors, org_ids)


def _referral(world: DemoWorld, as_draft: bool) -> referrals.SubmitReferral:
    rng = world.rng
    types = rng.sample(sorted(ConcernType), k=rng.randint(1, 2))
    return referrals.SubmitReferral(
        subject=referrals.SubjectDetails(
            given_name=rng.choice(GIVEN),
            family_name=rng.choice(FAMILY),
            date_of_birth=date(rng.randint(1995, 2008), rng.randint(1, 12), rng.randint(1, 28)),
            address=f"{rng.randint(1, 99)} Example Street, Demo City",
            phone=f"+00 0000 {rng.randint(100000, 999999)}",
            guardian_details="Parent: A. Guardian (synthetic)",
            health="Synthetic health note for the demo",
        ),
        concern_summary="Synthetic concern: shares hateful material with classmates.",
        concern_types=tuple(types),
        narrative="Synthetic narrative written for the demo; no real person is described.",
        consent_discussed=rng.random() < 0.5,
        as_draft=as_draft,
    )


Step = Callable[[DemoWorld, int], object]


def _move(who: str, trigger: str, message: str = "") -> Step:
    return lambda w, case_id: w.run(
        who, lifecycle.move_case, lifecycle.MoveCase(case_id, trigger, outcome_for_referrer=message)
    )


def _outcome(who: str, outcome: str, notes: str = "", message: str = "") -> Step:
    command = screening.RecordScreeningOutcome
    return lambda w, case_id: w.run(
        who,
        screening.record_screening_outcome,
        command(case_id, outcome, screening_notes=notes, outcome_for_referrer=message),
    )


def _deconflict(result: str, information: str = "") -> Step:
    command = screening.RecordDeconfliction
    return lambda w, case_id: w.run(
        "screener", screening.record_deconfliction, command(case_id, information, result)
    )


def _gather(w: DemoWorld, case_id: int) -> None:
    _deconflict("no match")(w, case_id)
    _outcome("coordinator", "gather_information", "Vulnerability indicators present.")(w, case_id)
    agencies = (w.org_ids[OrgKind.EDUCATION], w.org_ids[OrgKind.HEALTH])
    question = "What support does the person already receive?"
    command = information.SendInformationRequests(case_id, agencies, question)
    w.run("coordinator", information.send_information_requests, command)


def _settle(w: DemoWorld, case_id: int) -> None:
    with w.runtime.session_factory() as session:
        requests = Repositories(session).information_requests(case_id)
        asked = [
            (r.id, r.organisation_id)
            for r in requests
            if r.state == states.name(states.REQUEST, "requested")
        ]
    for request_id, organisation_id in asked:
        answer = information.RecordAnswer(request_id, "Synthetic answer from the agency.")
        # Health answers for itself, through its agency contact; the school has no contact
        # in the demo, so the coordinator records what it said.
        who = "health_contact" if organisation_id == w.org_ids[OrgKind.HEALTH] else "coordinator"
        w.run(who, information.record_answer, answer)
    _move("coordinator", "ready_for_panel")(w, case_id)


def _to_panel(w: DemoWorld, case_id: int) -> None:
    w.run("coordinator", panel.set_agenda, panel.SetAgenda(w.meeting_id, (case_id,)))


def _decide(w: DemoWorld, case_id: int) -> None:
    contribution = panel.AddContribution(
        case_id, w.meeting_id, "Health: no current service involvement."
    )
    w.run("panel", panel.add_contribution, contribution)
    decision = panel.RecordDecision(
        case_id,
        w.meeting_id,
        "support",
        "Consensus: mentoring is proportionate.",
        outcome_for_referrer="The panel has offered support.",
    )
    w.run("chair", panel.record_panel_decision, decision)
    w.run("coordinator", consent.request_consent, consent.RequestConsent(case_id))


# What the demo's consent lets go to the civil-society provider, for support: who the
# person is, how to reach them, the concern, the consent itself and the support plan. Not
# the narrative or special-category data: the provider's page shows those hidden, and why.
PROVIDER_CONSENT_SCOPE = tuple(
    ConsentScope(category, OrgKind.CIVIL_SOCIETY, Purpose.SUPPORT)
    for category in (
        Category.IDENTITY,
        Category.CONTACT,
        Category.CONCERN,
        Category.CONSENT,
        Category.SUPPORT,
    )
)


def _answer_consent(given: bool) -> Step:
    scope = PROVIDER_CONSENT_SCOPE
    return lambda w, case_id: w.run(
        "coordinator",
        consent.record_consent,
        consent.RecordConsent(
            case_id,
            given,
            "in_person",
            scope if given else (),
            given_by="guardian",
            guardian_name="A. Guardian (synthetic)",
        ),
    )


def _support(w: DemoWorld, case_id: int) -> None:
    _answer_consent(True)(w, case_id)
    _move("coordinator", "start_support")(w, case_id)
    assign = support.AssignIntervention(
        case_id, "mentoring", w.org_ids[OrgKind.CIVIL_SOCIETY], "Weekly mentoring for 3 months."
    )
    intervention_id = w.run("coordinator", support.assign_intervention, assign)
    for trigger in ("accept", "start"):
        move = support.MoveIntervention(intervention_id, trigger)
        w.run("provider", support.move_intervention, move)
    note = support.RecordProgress(intervention_id, "Session 1: engaged well; set goals.")
    w.run("provider", support.record_progress, note)


def _review(w: DemoWorld, case_id: int) -> None:
    _move("coordinator", "start_review")(w, case_id)
    review = lifecycle.RecordReview(case_id, "review", "Good progress; ready to exit.")
    w.run("coordinator", lifecycle.record_review, review)


# The main path: each step leaves the case in the state named beside it.
MAIN_PATH: list[tuple[str, Step]] = [
    ("screening", lambda w, c: w.run("screener", screening.start_screening, StartScreening(c))),
    ("information_gathering", _gather),
    ("awaiting_panel", _settle),
    ("panel_review", _to_panel),
    ("consent_pending", _decide),
    ("support", _support),
    ("review", _review),
    ("exited", _move("chair", "exit_support", "Support has ended well.")),
    ("follow_up_6m", _move("coordinator", "follow_up_6m")),
    ("follow_up_12m", _move("coordinator", "follow_up_12m")),
    ("closed", _move("coordinator", "close", "The case is closed.")),
]  # fmt: skip

THANKS = "Thank you: the network has reviewed your referral."

# Exits off the main path: (state to reach first, the step that branches off).
BRANCHES: dict[str, tuple[str, Step]] = {
    "closed_no_action": ("screening", _outcome("coordinator", "close_no_action", "Low.", THANKS)),
    "signposted": ("screening", _outcome("coordinator", "signpost", "Another service.", THANKS)),
    "police_led": (
        "screening",
        lambda w, c: (_deconflict("match: police lead", "Synthetic police note.")(w, c),
                      _outcome("screener", "refer_to_police")(w, c)),
    ),
    "transferred": ("screening", _move("coordinator", "transfer")),
    "closed_consent_refused": ("consent_pending", _answer_consent(False)),
    "closed_consent_withdrawn": (
        "support",
        lambda w, c: w.run("coordinator", consent.withdraw_consent, consent.WithdrawConsent(c)),
    ),
    "erased": (
        "closed_no_action",
        lambda w, c: w.run("dpo", erase_case, EraseCase(c, "Demo: retention period reached.")),
    ),
}  # fmt: skip


def _walk_to(world: DemoWorld, target: str) -> None:
    """Submit a referral and move it, step by step through the services, to `target`."""
    command = _referral(world, as_draft=target == "draft")
    case_id = world.run("referrer", referrals.submit_referral, command)
    if target in ("draft", "submitted"):
        return
    branch = BRANCHES.get(target)
    stop = branch[0] if branch else target
    if stop in BRANCHES:  # a branch off a branch (erased after closed_no_action)
        outer_stop, outer_step = BRANCHES[stop]
        _follow(world, case_id, outer_stop)
        outer_step(world, case_id)
    else:
        _follow(world, case_id, stop)
    if branch:
        branch[1](world, case_id)


def _follow(world: DemoWorld, case_id: int, stop: str) -> None:
    for state, step in MAIN_PATH:
        step(world, case_id)
        if state == stop:
            return
