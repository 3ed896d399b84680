"""Networks beside the demo's, for tests that cross networks (linkage).

The demo holds one network; a test that needs another city, a training network or the
national tier makes it here, with one user per role it names.
"""

from dataclasses import dataclass

from referral.db.tables import Network, Organisation, RoleAssignment, User
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role
from referral.services.uow import Runtime
from tests.factories import FAKE_HASH


@dataclass
class City:
    """Another network's people, by name."""

    network_id: int
    actors: dict[str, Actor]


def add_network(
    runtime: Runtime,
    slug: str,
    kind: str = "city",
    *,
    password_hash: str = FAKE_HASH,
    **roles: Role,
) -> City:
    """A network of its own with one user per named role (local authority organisation);
    users are named `<slug>-<name>`."""
    with runtime.session_factory() as session, session.begin():
        network = Network(slug=slug, name=f"{slug.title()} Prevention Network", kind=kind)
        session.add(network)
        session.flush()
        org = Organisation(network_id=network.id, name=f"{slug} council", kind="local_authority")
        session.add(org)
        session.flush()
        actors = {}
        for name, role in roles.items():
            user = User(
                username=f"{slug}-{name}",
                display_name=name,
                organisation_id=org.id,
                password_hash=password_hash,
            )
            session.add(user)
            session.flush()
            session.add(RoleAssignment(user_id=user.id, network_id=network.id, role=role))
            actors[name] = Actor(
                user.id,
                org.id,
                OrgKind.LOCAL_AUTHORITY,
                network.id,
                slug,
                frozenset({role}),
            )
    return City(network.id, actors)
