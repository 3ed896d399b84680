"""Test data for transfers: more networks beside the demo one, with their people.

The demo network is city A; these add city B (`harbour`), a training network and the
national tier, each with its organisations and users, built straight into the tables as
`tests.factories.add_user` builds the demo network's extra users.
"""

from dataclasses import dataclass

from referral.db.tables import Network, Organisation, RoleAssignment, User
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role
from referral.services.uow import Runtime
from tests.factories import FAKE_HASH


@dataclass(frozen=True)
class Networks:
    world: DemoWorld  # city A: the demo network and its people
    harbour: Actor  # city B's coordinator
    harbour_referrer: Actor  # a referrer in city B (nothing of a transfer is theirs)
    practice: Actor  # a training network's coordinator
    national: Actor  # the national coordinator


def add_network(runtime: Runtime, slug: str, name: str, kind: str = "city") -> int:
    with runtime.session_factory() as session, session.begin():
        network = Network(slug=slug, name=name, kind=kind)
        session.add(network)
        session.flush()
        return int(network.id)


def add_person(
    runtime: Runtime,
    network_id: int,
    slug: str,
    username: str,
    kind: OrgKind,
    *roles: Role,
    email: str = "",
    password_hash: str = FAKE_HASH,
) -> Actor:
    """A user in an organisation of their own in the network, holding `roles` there."""
    with runtime.session_factory() as session, session.begin():
        org = Organisation(network_id=network_id, name=f"{slug} {kind}", kind=kind)
        session.add(org)
        session.flush()
        user = User(
            username=username,
            display_name=username,
            email=email,
            organisation_id=org.id,
            password_hash=password_hash,
        )
        session.add(user)
        session.flush()
        session.add_all(
            RoleAssignment(user_id=user.id, network_id=network_id, role=r) for r in roles
        )
        return Actor(user.id, org.id, kind, network_id, slug, frozenset(roles))


def make_networks(runtime: Runtime, world: DemoWorld, password_hash: str = FAKE_HASH) -> Networks:
    """City B, a training network and the national tier; `password_hash` for users who
    sign in through the pages (the browser tests)."""
    hashed = {"password_hash": password_hash}
    harbour = add_network(runtime, "harbour", "Harbour Prevention Network")
    practice = add_network(runtime, "practice", "Practice Network", kind="training")
    national = add_network(runtime, "national", "National Prevention Centre", kind="national")
    return Networks(
        world=world,
        harbour=add_person(
            runtime, harbour, "harbour", "harbour-coordinator", OrgKind.LOCAL_AUTHORITY,
            Role.COORDINATOR, **hashed,
        ),
        harbour_referrer=add_person(
            runtime, harbour, "harbour", "harbour-teacher", OrgKind.EDUCATION, Role.REFERRER
        ),
        practice=add_person(
            runtime, practice, "practice", "practice-coordinator", OrgKind.LOCAL_AUTHORITY,
            Role.COORDINATOR, **hashed,
        ),
        national=add_person(
            runtime, national, "national", "national-lead", OrgKind.NATIONAL,
            Role.NATIONAL_COORDINATOR, **hashed,
        ),
    )  # fmt: skip
