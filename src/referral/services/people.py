"""The signed-in person as the pages show them: their name, their network's, their bell."""

from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.sql.elements import BindParameter

from referral.db import prepared
from referral.db.base import AnySelect
from referral.db.repositories import current_connection
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
    # A user may act in a network other than their organisation's: the name is looked up
    # by id, the network by the actor's own, the bell in that network only.
    session = uow.unscoped("the viewer's own name, network name and unread notices")
    values = {"user_id": actor.user_id, "network_id": actor.network_id}
    rows = prepared.run(current_connection(session), _viewer_query(), values)
    found = rows[0] if rows else None
    if found is None:
        return ViewerDetails(display_name="", network_name="", unread_notices=0)
    return ViewerDetails(
        display_name=found[0] or "", network_name=found[1] or "", unread_notices=found[2] or 0
    )


@cache
def _viewer_query() -> AnySelect:
    """Name, network name and unread count in one statement, built once per process."""
    user_id: BindParameter[int] = bindparam("user_id")
    network_id: BindParameter[int] = bindparam("network_id")
    name = select(User.display_name).where(User.id == user_id).scalar_subquery()
    unread = notifications.unread_query().scalar_subquery()
    return select(name, Network.name, unread).where(Network.id == network_id)
