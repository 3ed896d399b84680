"""The signed-in person as the pages show them: their name, their network's, their bell."""

from dataclasses import dataclass

from referral.db.tables import Network, User
from referral.domain.actors import Actor
from referral.services import notifications
from referral.services.uow import UnitOfWork


@dataclass(frozen=True)
class ViewerDetails:
    display_name: str
    network_name: str
    unread_notices: int


def describe_viewer(uow: UnitOfWork, actor: Actor) -> ViewerDetails:
    """Who is signed in and where, and how many unread notices they have (one indexed count).

    Names only, no case data: nothing here is disclosed, so nothing is audited.
    """
    scope = uow.scoped(actor)
    user = uow.unscoped("a user may act in a network other than their organisation's").get(
        User, actor.user_id
    )
    network = scope.get(Network, actor.network_id)
    return ViewerDetails(
        display_name=user.display_name if user else "",
        network_name=network.name if network else "",
        unread_notices=notifications.unread_count(uow, actor),
    )
