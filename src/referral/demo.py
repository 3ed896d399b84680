"""Synthetic demo networks, built through the services so the audit log holds their history.

`referral demo` seeds two city networks (`demo-city`, the full walk through every state,
and `harbour`, with its own organisations, people and a few cases), the `national` tier
(a national admin, a national coordinator and an analyst) and one person who works in
both cities. `referral demo --training` adds a `training` network of practice cases.

Every name here is invented. Every demo password is 'demo-password': demo only, never
for a real deployment.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TypeVar

from sqlalchemy import func, select

from referral.db.repositories import Repositories
from referral.db.tables import Network, Organisation, PanelMeeting, RoleAssignment, User
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.errors import ConfigurationError, Conflict
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, ConcernType, OrgKind, Purpose, Role
from referral.security import hash_password
from referral.services import (
    consent,
    information,
    lifecycle,
    panel,
    protocols,
    referrals,
    screening,
    support,
)
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
    # The meeting held yesterday, where the cases beyond the panel were decided (decisions
    # are recorded once a meeting is held); `meeting_id` is tomorrow's, still to be held.
    held_meeting_id: int = 0
    walking_to: str = ""  # the state the case being walked is going to
    rng: random.Random = field(default_factory=lambda: random.Random(20261128))  # noqa: S311

    def run(self, who: str, service: Callable[[UnitOfWork, Actor, C], R], command: C) -> R:
        """Run one service as the named demo user, in a unit of work of its own."""
        with UnitOfWork(self.runtime, request_id="demo") as uow:
            return service(uow, self.actors[who], command)


def seed_demo(runtime: Runtime, *, skip_if_populated: bool = False, training: bool = False) -> str:
    """The demo networks; with `training`, the training network too (alone, when the
    demo is already there)."""
    with runtime.session_factory() as session:
        populated = bool(session.scalar(select(func.count()).select_from(User)))
        has_training = session.scalar(select(Network.id).where(Network.slug == TRAINING_SLUG))
    if populated and training and not has_training:
        _require_the_scripted_workflow(runtime)
        return seed_training(runtime)
    if populated:
        if skip_if_populated:
            return "demo skipped: the database already has users"
        raise Conflict("the database already has users: the demo needs an empty database")
    _require_the_scripted_workflow(runtime)
    summary = _seed_demo_city(runtime)
    summary += "\n" + seed_harbour_and_national(runtime)
    if training:
        summary += "\n" + seed_training(runtime)
    return summary


def _seed_demo_city(runtime: Runtime) -> str:
    world = seed_people(runtime)
    walk_demo_cases(world)
    # The city's protocol, already acknowledged by its people, so that the demo's walks
    # (and the tests that sign in as them) reach their cases at once.
    _publish_protocol(world, acknowledged_by=tuple(DEMO_USERS))
    with runtime.session_factory() as session, session.begin():
        city = session.scalars(select(Network).where(Network.slug == NETWORK_SLUG)).one()
        city.agreement_review_on = runtime.clock().date() + timedelta(days=365)
    return f"demo seeded: {len(DEMO_USERS)} users, {len(TARGETS)} cases in network '{NETWORK_SLUG}'"


def walk_demo_cases(world: DemoWorld) -> None:
    """The demo city's two meetings (one held yesterday, one tomorrow) and its cases,
    each walked through the services to its state."""
    runtime = world.runtime
    invited = (world.actors["panel"].user_id, world.actors["coordinator"].user_id)
    meeting = panel.ScheduleMeeting(
        scheduled_for=runtime.clock() + timedelta(days=1),
        chair_user_id=world.actors["chair"].user_id,
        attendee_user_ids=invited,
        location="Town hall, room 2",
    )
    world.meeting_id = world.run("coordinator", panel.schedule_meeting, meeting)
    held = replace(meeting, scheduled_for=runtime.clock() - timedelta(days=1))
    world.held_meeting_id = world.run("coordinator", panel.schedule_meeting, held)
    for target in TARGETS:
        _walk_to(world, target)


# -- the second city, the national tier, the person in two cities, training ---------------

HARBOUR_SLUG = "harbour"
NATIONAL_SLUG = "national"
TRAINING_SLUG = "training"
BOTH_CITIES = "two-cities"  # a coordinator in demo-city and in harbour

# The few people a city of the demo needs for its cases, by the demo's role names (the
# keys `_walk_to` runs them by), each with its username in that city.
CITY_PEOPLE: dict[str, tuple[str, OrgKind, tuple[Role, ...]]] = {
    "referrer": ("Referrer (teacher)", OrgKind.EDUCATION, (Role.REFERRER,)),
    "coordinator": ("Coordinator", OrgKind.LOCAL_AUTHORITY, (Role.COORDINATOR,)),
    "screener": ("Screener (police gateway)", OrgKind.POLICE, (Role.SCREENER,)),
    "health_contact": ("Health agency contact", OrgKind.HEALTH, (Role.AGENCY_CONTACT,)),
    "dpo": ("DPO", OrgKind.LOCAL_AUTHORITY, (Role.DPO,)),
    "admin": ("Admin", OrgKind.LOCAL_AUTHORITY, (Role.ADMIN,)),
}
NATIONAL_PEOPLE: dict[str, tuple[str, OrgKind, tuple[Role, ...]]] = {
    "national-admin": ("Nico National Admin", OrgKind.NATIONAL, (Role.ADMIN,)),
    "national-coordinator": (
        "Noor National Coordinator",
        OrgKind.NATIONAL,
        (Role.NATIONAL_COORDINATOR,),
    ),
    "analyst": ("Ana Analyst", OrgKind.NATIONAL, (Role.ANALYST,)),
}
# A city's few cases: a prefix of the main walk and one exit off it.
CITY_TARGETS = ["submitted", "screening", "information_gathering", "closed_no_action"]
TRAINING_TARGETS = ["submitted", "screening", "information_gathering", "awaiting_panel"]

PROTOCOL_TEXT = (
    "This protocol sets out how the partners of {name} share information about people"
    " referred to the network.\n\nShare only what the sharing agreement allows for the"
    " purpose at hand, record why, and never copy case information outside this"
    " service.\n\nSynthetic demo text: a real network writes its own."
)


def _network_with_people(
    runtime: Runtime,
    slug: str,
    name: str,
    kind: str,
    people: dict[str, tuple[str, str, OrgKind, tuple[Role, ...]]],
    *,
    time_zone: str = "Europe/London",
    languages: str = "en",
) -> DemoWorld:
    """A network with an organisation of each kind its people need, and its people:
    `people` maps the name the script runs them by to (username, display, kind, roles)."""
    with runtime.session_factory() as session, session.begin():
        network = Network(slug=slug, name=name, kind=kind, time_zone=time_zone, languages=languages)
        network.agreement_review_on = runtime.clock().date() + timedelta(days=365)
        session.add(network)
        session.flush()
        kinds = sorted({person[2] for person in people.values()})
        organisations = {
            k: Organisation(network_id=network.id, name=f"{name}: {k.replace('_', ' ')}", kind=k)
            for k in kinds
        }
        session.add_all(organisations.values())
        session.flush()
        password_hash = hash_password(DEMO_PASSWORD)
        actors = {}
        for key, (username, display, org_kind, roles) in people.items():
            user = User(
                username=username,
                display_name=display,
                email=f"{username}@demo.invalid",
                organisation_id=organisations[org_kind].id,
                password_hash=password_hash,
            )
            session.add(user)
            session.flush()
            session.add_all(
                RoleAssignment(user_id=user.id, network_id=network.id, role=r) for r in roles
            )
            actors[key] = Actor(
                user.id, user.organisation_id, org_kind, network.id, slug, frozenset(roles)
            )
        org_ids = {k: org.id for k, org in organisations.items()}
    return DemoWorld(runtime, actors, org_ids)


def _city_people(prefix: str, title: str) -> dict[str, tuple[str, str, OrgKind, tuple[Role, ...]]]:
    return {
        key: (f"{prefix}-{key.replace('_', '-')}", f"{title} {display}", kind, roles)
        for key, (display, kind, roles) in CITY_PEOPLE.items()
    }


def _publish_protocol(world: DemoWorld, *, acknowledged_by: tuple[str, ...] = ()) -> None:
    """Version 1 of the network's protocol, published by its coordinator; acknowledged
    by the people named (the others are asked before their first case)."""
    with world.runtime.session_factory() as session:
        name = session.scalar(
            select(Network.name).where(Network.id == world.actors["coordinator"].network_id)
        )
    review_on = world.runtime.clock().date() + timedelta(days=365)
    text = PROTOCOL_TEXT.format(name=name)
    command = protocols.Publish(text, "The network's information governance lead", review_on)
    version = world.run("coordinator", protocols.publish, command)
    for who in acknowledged_by:
        world.run(who, protocols.acknowledge, protocols.Acknowledge(version))


def _walk_cases(world: DemoWorld, targets: list[str]) -> None:
    for target in targets:
        _walk_to(world, target)


def seed_harbour_and_national(runtime: Runtime) -> str:
    """The second city (its people and a few cases, its protocol not yet acknowledged:
    they are asked at their first case), the national tier, and the person in both."""
    harbour = _network_with_people(
        runtime,
        HARBOUR_SLUG,
        "Harbour City Prevention Network",
        "city",
        _city_people("harbour", "Harbour"),
        languages="en,nl",
    )
    _walk_cases(harbour, CITY_TARGETS)
    _publish_protocol(harbour)
    national = {
        key: (key, display, kind, roles) for key, (display, kind, roles) in NATIONAL_PEOPLE.items()
    }
    _network_with_people(runtime, NATIONAL_SLUG, "National Prevention Office", "national", national)
    with runtime.session_factory() as session, session.begin():
        demo_org = session.scalar(
            select(Organisation.id)
            .join(Network, Network.id == Organisation.network_id)
            .where(Network.slug == NETWORK_SLUG, Organisation.kind == OrgKind.LOCAL_AUTHORITY)
        )
        assert demo_org is not None  # seeded first
        user = User(
            username=BOTH_CITIES,
            display_name="Tam Two-Cities (coordinator in Demo City and Harbour)",
            email=f"{BOTH_CITIES}@demo.invalid",
            organisation_id=demo_org,
            password_hash=hash_password(DEMO_PASSWORD),
        )
        session.add(user)
        session.flush()
        for slug in (NETWORK_SLUG, HARBOUR_SLUG):
            network_id = session.scalar(select(Network.id).where(Network.slug == slug))
            assert network_id is not None
            session.add(RoleAssignment(user_id=user.id, network_id=network_id, role="coordinator"))
    people = len(CITY_PEOPLE) + len(NATIONAL_PEOPLE) + 1
    return (
        f"demo seeded: {len(CITY_TARGETS)} cases in network '{HARBOUR_SLUG}', the"
        f" '{NATIONAL_SLUG}' tier, {people} more users (one of them, '{BOTH_CITIES}', in both"
        " cities)"
    )


def seed_training(runtime: Runtime) -> str:
    """A training network of synthetic practice cases (never in statistics or linkage)."""
    world = _network_with_people(
        runtime,
        TRAINING_SLUG,
        "Training Network (practice cases)",
        "training",
        _city_people("trainee", "Trainee"),
    )
    _walk_cases(world, TRAINING_TARGETS)
    _publish_protocol(world)
    return (
        f"training seeded: {len(CITY_PEOPLE)} users (trainee-*), {len(TRAINING_TARGETS)}"
        f" practice cases in network '{TRAINING_SLUG}'"
    )


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
            "{path}: the demo scripts the shipped referral workflow, and this file has no "
            "{missing}: seed the demo with the shipped workflows",
            path=workflow.path,
            missing=missing,
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
    # A case the walk takes beyond the panel goes to the meeting held yesterday.
    beyond = w.walking_to != "panel_review" and w.held_meeting_id
    meeting_id = w.held_meeting_id if beyond else w.meeting_id
    w.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))


def _decide(w: DemoWorld, case_id: int) -> None:
    meeting_id = w.held_meeting_id or w.meeting_id
    contribution = panel.AddContribution(
        case_id, meeting_id, "Health: no current service involvement."
    )
    w.run("panel", panel.add_contribution, contribution)
    with w.runtime.session_factory() as session:
        state = session.scalar(select(PanelMeeting.state).where(PanelMeeting.id == meeting_id))
    if state == states.name(states.MEETING, "agenda_set"):
        # Decisions are recorded once the meeting is held.
        w.run("chair", panel.move_meeting, panel.MoveMeeting(meeting_id, "hold"))
    decision = panel.RecordDecision(
        case_id,
        meeting_id,
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
    world.walking_to = stop
    for state, step in MAIN_PATH:
        step(world, case_id)
        if state == stop:
            return
