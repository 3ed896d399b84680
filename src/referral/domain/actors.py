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
