"""Test data beyond the demo network: other city networks, a training network, and the
national tier with its analyst (the demo seeds these later; see the statistics tests)."""

from referral.db.tables import Network, Organisation, RoleAssignment, User
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role
from referral.services import referrals
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import FAKE_HASH, referral_command


def add_network(runtime: Runtime, slug: str, kind: str = "city") -> int:
    with runtime.session_factory() as session, session.begin():
        network = Network(slug=slug, name=f"{slug.title()} Network", kind=kind)
        session.add(network)
        session.flush()
        return network.id


def add_member(
    runtime: Runtime,
    world: DemoWorld,
    network_id: int,
    username: str,
    kind: OrgKind,
    *roles: Role,
    password_hash: str = FAKE_HASH,
) -> Actor:
    """A user of an organisation of their own in `network_id`, holding `roles` there."""
    with runtime.session_factory() as session, session.begin():
        slug = session.get_one(Network, network_id).slug
        org = Organisation(network_id=network_id, name=f"{username} org", kind=kind)
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
            RoleAssignment(user_id=user.id, network_id=network_id, role=r) for r in roles
        )
        actor = Actor(user.id, org.id, kind, network_id, slug, frozenset(roles))
    world.actors[username] = actor
    return actor


def submit_as(runtime: Runtime, actor: Actor, count: int, **overrides: object) -> list[int]:
    ids = []
    for _ in range(count):
        with UnitOfWork(runtime, request_id="test") as uow:
            ids.append(referrals.submit_referral(uow, actor, referral_command(**overrides)))
    return ids
