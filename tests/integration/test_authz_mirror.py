"""The two faces of the policy agree on real rows: `case_filter` selects exactly the cases
for which `Authorizer.decide` allows, given the facts the repository loads."""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from referral.authz.enforcer import Authorizer
from referral.authz.filters import case_filter
from referral.db.repositories import Repositories
from referral.db.tables import (
    AgendaItem,
    Case,
    Consent,
    ConsentScopeRow,
    InformationRequest,
    Intervention,
    MeetingAttendee,
    Network,
    Organisation,
    PanelMeeting,
    Subject,
    User,
)
from referral.domain.actors import Actor
from referral.domain.vocabulary import Category, OrgKind, Role

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KINDS = (OrgKind.HEALTH, OrgKind.CIVIL_SOCIETY, OrgKind.POLICE)
ROLE_SETS = [frozenset({r}) for r in Role] + [
    frozenset({Role.COORDINATOR, Role.PROVIDER}),
    frozenset({Role.PANEL_MEMBER, Role.PROVIDER, Role.REFERRER}),
]
QUESTIONS = [(str(c), act) for c in Category for act in ("read", "write")] + [
    ("case", "decide"),
    ("intervention", "record"),
    ("case", "submit"),
    ("information_request", "answer"),
]
MEETING_DAYS = [-8, -7, -3, 0, 6, 7.5, 30]  # days from now to the meeting
PURPOSES = ["support", "support", "support", "panel"]


@dataclass
class World:
    network_id: int
    other_network_id: int
    users: dict[OrgKind, User]
    other_user: User
    cases: list[Case]


def _add(session: Session, row: object) -> None:
    session.add(row)
    session.flush()


def build_world(session: Session, rng: random.Random) -> World:
    networks = [Network(slug=f"mirror-{i}", name=f"Mirror {i}") for i in (1, 2)]
    session.add_all(networks)
    session.flush()
    home, away = networks
    orgs = {k: Organisation(network_id=home.id, name=f"{k} org", kind=k) for k in KINDS}
    other_org = Organisation(network_id=home.id, name="other", kind=OrgKind.YOUTH)
    session.add_all([*orgs.values(), other_org])
    session.flush()
    users = {k: User(username=f"mirror-{k}", display_name=k, organisation_id=o.id,
                     password_hash="x") for k, o in orgs.items()}  # fmt: skip
    other = User(username="mirror-other", display_name="o", organisation_id=other_org.id,
                 password_hash="x")  # fmt: skip
    session.add_all([*users.values(), other])
    session.flush()
    people = [*users.values(), other]
    provider_orgs = [*orgs.values(), other_org]
    cases = [
        _random_case(session, rng, rng.choice([home, home, home, away]), people, provider_orgs)
        for _ in range(120)
    ]
    return World(home.id, away.id, users, other, cases)


def _random_case(
    session: Session, rng: random.Random, network: Network, people: list[User],
    orgs: list[Organisation],
) -> Case:  # fmt: skip
    subject = Subject(network_id=network.id, given_name="M", family_name="Irror")
    _add(session, subject)
    case = Case(
        network_id=network.id, subject_id=subject.id, reference=f"M-{subject.id}",
        state=rng.choice(["screening", "panel_review", "support", "closed"]),
        workflow_name="referral", workflow_version=1, workflow_hash="x",
        referrer_user_id=rng.choice(people).id, referring_org_kind="education",
        coordinator_user_id=rng.choice([None, *(p.id for p in people)]),
    )  # fmt: skip
    _add(session, case)
    for _ in range(rng.choice([0, 0, 1, 2])):
        meeting = PanelMeeting(
            network_id=network.id, state=rng.choice(["scheduled", "held", "cancelled"]),
            scheduled_for=NOW + timedelta(days=rng.choice(MEETING_DAYS)),
            chair_user_id=people[0].id,
        )  # fmt: skip
        _add(session, meeting)
        session.add(AgendaItem(meeting_id=meeting.id, case_id=case.id, position=1))
        for person in rng.sample(people, rng.randint(0, 2)):
            session.add(MeetingAttendee(meeting_id=meeting.id, user_id=person.id))
    for _ in range(rng.choice([0, 1, 1, 2])):
        session.add(Intervention(
            case_id=case.id, provider_org_id=rng.choice(orgs).id, kind="mentoring",
            state=rng.choice(["proposed", "active", "withdrawn"]),
        ))  # fmt: skip
    for _ in range(rng.choice([0, 1, 1, 2])):
        consent = Consent(
            case_id=case.id, state=rng.choice(["requested", "given", "given", "withdrawn"]),
            recorded_by=people[0].id,
        )  # fmt: skip
        # Grants of several categories, kinds and purposes: the provider's rules ask for
        # their own kind and the purpose `support`; a grant for the panel opens nothing.
        categories = [Category.SPECIAL, Category.IDENTITY, Category.SUPPORT, Category.CONCERN]
        consent.scopes = [
            ConsentScopeRow(category=c, org_kind=kind, purpose=rng.choice(PURPOSES))
            for c in rng.sample(categories, rng.randint(0, 4))
            for kind in rng.sample(KINDS, rng.randint(1, 2))
        ]
        _add(session, consent)
    for _ in range(rng.choice([0, 1, 1, 2])):
        session.add(InformationRequest(
            case_id=case.id, organisation_id=rng.choice(orgs).id, question="?",
            state=rng.choice(["requested", "overdue", "answered", "declined"]),
            requested_by=people[0].id, due_at=NOW,
        ))  # fmt: skip
    session.flush()
    return case


@pytest.fixture
def world(db_session: Session) -> World:
    return build_world(db_session, random.Random(20260302))


def actors(world: World, user: User, kind: OrgKind) -> Iterator[Actor]:
    for roles in ROLE_SETS:
        yield Actor(user.id, user.organisation_id, kind, world.network_id, "mirror-1", roles)


def test_sql_face_selects_exactly_what_python_face_allows(
    db_session: Session, authz: Authorizer, world: World
) -> None:
    repo = Repositories(db_session)
    mismatches = []
    for kind, user in world.users.items():
        # The facts depend on the user (invitations), not on the roles held.
        facts = {c.id: repo.case_facts(c, next(actors(world, user, kind))) for c in world.cases}
        for actor in actors(world, user, kind):
            for obj, act in QUESTIONS:
                in_sql = set(db_session.scalars(
                    select(Case.id).where(case_filter(authz, actor, obj, act, NOW))
                ))  # fmt: skip
                in_python = {
                    case_id for case_id, f in facts.items()
                    if authz.decide(actor, obj, act, f, NOW).allowed
                }  # fmt: skip
                if in_sql != in_python:
                    mismatches.append(
                        f"{actor.role_label} ({actor.org_kind}) {act} {obj}:"
                        f" only in SQL {sorted(in_sql - in_python)},"
                        f" only in Python {sorted(in_python - in_sql)}"
                    )
    assert mismatches == []


def test_the_world_exercises_every_condition(
    db_session: Session, authz: Authorizer, world: World
) -> None:
    """Guard against a vacuous mirror test: each conditional rule allows on some case."""
    repo = Repositories(db_session)

    def allowed(role: Role, category: Category) -> int:
        """On how many (case, user) pairs the role may read the category, users of every kind."""
        found = 0
        for kind, user in world.users.items():
            who = Actor(user.id, user.organisation_id, kind, world.network_id, "mirror-1",
                        frozenset({role}))  # fmt: skip
            facts = [repo.case_facts(c, who) for c in world.cases]
            found += sum(authz.decide(who, category, "read", f, NOW).allowed for f in facts)
        return found

    for role, category in [
        (Role.REFERRER, Category.STATUS),
        (Role.PANEL_MEMBER, Category.SPECIAL),
        (Role.PROVIDER, Category.STATUS),
        (Role.PROVIDER, Category.SPECIAL),
        (Role.PROVIDER, Category.IDENTITY),
        (Role.PROVIDER, Category.SUPPORT),
        (Role.AGENCY_CONTACT, Category.STATUS),
    ]:
        assert 0 < allowed(role, category) < len(world.cases) * len(KINDS), (role, category)
