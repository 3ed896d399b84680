"""The signed-in person as the pages show them: their name, their network's, their bell,
and the language they chose to read in."""

from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, or_, select
from sqlalchemy.sql.elements import BindParameter

from referral import i18n
from referral.audit.chain import AuditRecord
from referral.db import prepared
from referral.db.base import AnySelect
from referral.db.repositories import current_connection
from referral.db.tables import Network, RoleAssignment, User
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound
from referral.i18n import N_
from referral.services import notifications
from referral.services.uow import UnitOfWork


@dataclass(frozen=True)
class NetworkChoice:
    """A network the viewer holds roles in, for the header's switcher."""

    id: int
    name: str


@dataclass(frozen=True)
class ViewerDetails:
    display_name: str
    network_name: str
    unread_notices: int
    network_kind: str = "city"
    # Every network the viewer may act in (the current one included), in a stable order.
    networks: tuple[NetworkChoice, ...] = ()
    # How the pages read for them: their own language (None: the browser's, then the
    # network's default, the first of `network_languages`) and the network's time zone.
    language: str | None = None
    network_languages: str = "en"
    time_zone: str = "Europe/London"


def describe_viewer(uow: UnitOfWork, actor: Actor) -> ViewerDetails:
    """Who is signed in and where, and how many unread notices they have (one indexed count).

    Names only, no case data: nothing here is disclosed, so nothing is audited.
    """
    # A user may act in a network other than their organisation's: the name is looked up
    # by id, the network by the actor's own, the bell in that network only.
    session = uow.unscoped("the viewer's own name, network name and unread notices")
    values = {"user_id": actor.user_id, "network_id": actor.network_id}
    rows = prepared.run(current_connection(session), _viewer_query(), values)
    found = next((row for row in rows if row[4]), None)
    if found is None:
        return ViewerDetails(display_name="", network_name="", unread_notices=0)
    return ViewerDetails(
        display_name=found[0] or "",
        network_name=found[2] or "",
        unread_notices=found[3] or 0,
        network_kind=found[5] or "city",
        networks=tuple(NetworkChoice(row[1], row[2]) for row in rows),
        language=found[6],
        network_languages=found[7] or "en",
        time_zone=found[8] or "Europe/London",
    )


@cache
def _viewer_query() -> AnySelect:
    """Name, unread count and the networks the viewer may act in, in one statement built
    once per process: a row per network (the user's name and the current network's unread
    count are uncorrelated subqueries, computed once), the current one flagged."""
    user_id: BindParameter[int] = bindparam("user_id")
    network_id: BindParameter[int] = bindparam("network_id")
    name = select(User.display_name).where(User.id == user_id).scalar_subquery()
    language = select(User.language).where(User.id == user_id).scalar_subquery()
    unread = notifications.unread_query().scalar_subquery()
    held = select(RoleAssignment.network_id).where(RoleAssignment.user_id == user_id)
    current = (Network.id == network_id).label("current")
    return (
        select(
            name,
            Network.id,
            Network.name,
            unread,
            current,
            Network.kind,
            language,
            Network.languages,
            Network.time_zone,
        )
        .where(or_(Network.id == network_id, Network.id.in_(held)))
        .order_by(Network.name, Network.id)
    )


UNKNOWN_LANGUAGE = N_("Choose one of the languages offered, or Automatic.")


def choose_language(uow: UnitOfWork, actor: Actor, language: str | None) -> None:
    """The language the actor's pages read in from now on, one of the shipped ones; None
    (Automatic): their browser's, then their network's default. Audited (the code only)."""
    if language is not None and language not in i18n.LANGUAGES:
        raise InvalidInput(UNKNOWN_LANGUAGE, {"language": "unknown"})
    session = uow.unscoped("a user's own preference, on their own row")
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound("your account is no longer active")
    user.language = language
    uow.audit(
        AuditRecord(
            action="auth:language_chosen",
            allowed=True,
            actor=actor,
            target=f"user:{actor.user_id}",
            change={"language": language or "automatic"},
        )
    )
    uow.commit()
