"""Who is acting: the facts about a user that policies may depend on."""

from dataclasses import dataclass

from referral.domain.vocabulary import OrgKind, Role


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in user acting in one network, with the roles held there.

    `network` is the network's slug: the Casbin domain policy lines name.
    """

    user_id: int
    organisation_id: int
    org_kind: OrgKind
    network_id: int
    network: str
    roles: frozenset[Role]

    def holds(self, role: Role) -> bool:
        return role in self.roles

    @property
    def role_label(self) -> str:
        """A stable text form of the roles, for audit entries."""
        return ",".join(sorted(self.roles))


# The clock, the worker and the retention job act as `system`: no person, no organisation.
# Audit entries show user and organisation 0, and the role `system`.
SYSTEM_USER_ID = 0


def system_actor(network_id: int, network: str) -> Actor:
    """The `system` role in one network; policies give it only what timers need."""
    return Actor(
        user_id=SYSTEM_USER_ID,
        organisation_id=0,
        org_kind=OrgKind.LOCAL_AUTHORITY,
        network_id=network_id,
        network=network,
        roles=frozenset({Role.SYSTEM}),
    )
