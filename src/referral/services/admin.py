"""Administration of a network: its users, their roles, and its organisations.

An administrator manages the people of their own network and never sees case content.
Every change is audited (`admin:...`, target `user:N` or `organisation:N`, a digest of
the change) in the transaction that makes it. An administrator may not lock themselves
out: deactivating their own account or dropping their own admin role is refused.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Decision, Permission
from referral.db.tables import Network, Organisation, RoleAssignment, User, WebSession
from referral.domain.actors import Actor, system_actor
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.domain.vocabulary import OrgKind, Role
from referral.i18n import N_
from referral.security import has_password, hash_password
from referral.services import second_factor
from referral.services.access import authorise, record
from referral.services.uow import UnitOfWork

MANAGE = Permission.ADMIN_MANAGE.value
# `system` acts for timers and the worker, never for a person.
# A summons grants `invited_official` and takes it back (services.summons); nobody assigns it.
ASSIGNABLE_ROLES = tuple(role for role in Role if role not in {Role.SYSTEM, Role.INVITED_OFFICIAL})
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,63}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    email: str
    organisation_id: int
    organisation_name: str
    roles: tuple[str, ...]
    active: bool
    created_at: datetime
    has_password: bool = True  # False: imported, cannot sign in until one is set
    has_second_factor: bool = False  # confirmed: the administrator may reset it


@dataclass(frozen=True)
class OrganisationRow:
    id: int
    name: str
    kind: str
    users: int


@dataclass(frozen=True)
class Directory:
    """The network's users (with their roles here) and organisations."""

    users: list[UserRow]
    organisations: list[OrganisationRow]
    after: str = ""  # this page of users starts after that position ("" for the first)
    next_after: str = ""  # the next page starts after this one ("" when this is the last)


USERS_PAGE = 50


def manage(uow: UnitOfWork, actor: Actor) -> Decision:
    """The administrator's permission, or PermissionDenied."""
    return authorise(uow, actor, MANAGE, None)


def _organisations(uow: UnitOfWork, actor: Actor) -> list[OrganisationRow]:
    scope = uow.scoped(actor)
    rows = scope.execute(
        scope.select(Organisation.id, Organisation.name, Organisation.kind, func.count(User.id))
        .outerjoin(User, User.organisation_id == Organisation.id)
        .group_by(Organisation.id, Organisation.name, Organisation.kind)
        .order_by(Organisation.name, Organisation.id)
    )
    return [OrganisationRow(*row) for row in rows]


def _users(
    uow: UnitOfWork,
    actor: Actor,
    after: tuple[str, int] | None,
    limit: int,
    only: int | None = None,
) -> list[UserRow]:
    scope = uow.scoped(actor)
    # A user is the network's through their organisation: the scope filters on it.
    query = (
        scope.select(User)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(scope.where(Organisation))
    )
    if only is not None:
        query = query.where(User.id == only)
    if after is not None:
        name, user_id = after
        query = query.where(
            or_(User.display_name > name, and_(User.display_name == name, User.id > user_id))
        )
    users = scope.all(query.order_by(User.display_name, User.id).limit(limit))
    roles: dict[int, list[str]] = {}
    for user_id, role in scope.execute(
        scope.select(RoleAssignment.user_id, RoleAssignment.role)
        .join(User, User.id == RoleAssignment.user_id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(scope.where(Organisation), RoleAssignment.user_id.in_([u.id for u in users]))
    ):
        roles.setdefault(user_id, []).append(role)
    factors = second_factor.enrolled_among(uow, [u.id for u in users])
    return [
        UserRow(
            id=u.id,
            username=u.username,
            display_name=u.display_name,
            email=u.email,
            organisation_id=u.organisation_id,
            organisation_name=u.organisation.name,
            roles=tuple(sorted(roles.get(u.id, []))),
            active=u.active,
            created_at=u.created_at,
            has_password=has_password(u.password_hash),
            has_second_factor=u.id in factors,
        )
        for u in users
    ]


def directory(
    uow: UnitOfWork, actor: Actor, *, after: str = "", limit: int = USERS_PAGE
) -> Directory:
    """A page of the actor's network's users, by name, and every organisation of the
    network (no case data at all)."""
    manage(uow, actor)
    users = _users(uow, actor, _user_position(after), limit + 1)
    more = len(users) > limit
    users = users[:limit]
    next_after = f"{users[-1].display_name}~{users[-1].id}" if more else ""
    return Directory(users, _organisations(uow, actor), after, next_after)


def _user_position(after: str) -> tuple[str, int] | None:
    """A position in the users' order (name, then id): `name~id`, the name as it is."""
    if not after:
        return None
    name, sep, number = after.rpartition("~")
    if not sep or not number.isdigit() or int(number) > 2**31 - 1:
        raise InvalidInput(
            "This page link is out of date or damaged. Start again from the first page.",
            {"after": N_("Start from the first page.")},
        )
    return name, int(number)


def _user_in_network(uow: UnitOfWork, actor: Actor, user_id: int) -> User:
    user = uow.scoped(actor).get(User, user_id)
    if user is None:
        raise NotFound("user {user} not found", user=user_id)
    return user


def _organisation_in_network(uow: UnitOfWork, actor: Actor, org_id: int | None) -> bool:
    return org_id is not None and uow.scoped(actor).get(Organisation, org_id) is not None


@dataclass(frozen=True)
class CreateUser:
    username: str
    display_name: str
    email: str
    organisation_id: int | None
    roles: tuple[str, ...]
    password: str


def _user_errors(uow: UnitOfWork, actor: Actor, command: CreateUser) -> dict[str, str]:
    errors: dict[str, str] = {}
    username = command.username.strip()
    if not USERNAME.fullmatch(username):
        errors["username"] = (
            "Enter a username of 3 to 64 letters, digits, dots, hyphens or underscores."
        )
    elif uow.unscoped("usernames are unique across the deployment").scalar(
        select(User.id).where(func.lower(User.username) == username.lower()).limit(1)
    ):
        errors["username"] = f"The username '{username}' is already taken. Choose another."
    if not command.display_name.strip():
        errors["display_name"] = "Enter the name other users will see."
    elif len(command.display_name.strip()) > 200:
        errors["display_name"] = "The display name has at most 200 characters."
    email = command.email.strip()
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        errors["email"] = "Enter an email address like name@example.org, or leave it empty."
    if not _organisation_in_network(uow, actor, command.organisation_id):
        errors["organisation_id"] = "Choose the user's organisation."
    unknown = [r for r in command.roles if r not in ASSIGNABLE_ROLES]
    if not command.roles or unknown:
        errors["roles"] = "Choose at least one role from the list."
    if len(command.password) < MIN_PASSWORD:
        errors["password"] = f"The initial password needs at least {MIN_PASSWORD} characters."
    elif len(command.password) > MAX_PASSWORD:
        errors["password"] = f"The initial password has at most {MAX_PASSWORD} characters."
    return errors


def create_user(uow: UnitOfWork, actor: Actor, command: CreateUser) -> int:
    """A new user of an organisation in the actor's network, with roles in the network."""
    user = add_user(uow, actor, manage(uow, actor), command)
    uow.commit()
    return user.id


def add_user(uow: UnitOfWork, actor: Actor, decision: Decision, command: CreateUser) -> User:
    """`create_user` within a larger change: added and audited, not committed."""
    errors = _user_errors(uow, actor, command)
    if errors:
        raise InvalidInput("the new user has errors", errors)
    assert command.organisation_id is not None  # checked above
    user = User(
        username=command.username.strip(),
        display_name=command.display_name.strip(),
        email=command.email.strip(),
        organisation_id=command.organisation_id,
        password_hash=hash_password(command.password),
        active=True,
        created_at=uow.now,
    )
    scope = uow.scoped(actor)
    scope.add(user)
    uow.flush()  # a username taken meanwhile is a Conflict here, not a 500
    roles = sorted(set(command.roles))
    scope.add_all(
        RoleAssignment(user_id=user.id, network_id=actor.network_id, role=r) for r in roles
    )
    change = {
        "username": user.username,
        "organisation_id": user.organisation_id,
        "roles": roles,
        "email_set": bool(user.email),
    }
    uow.audit(record(actor, "admin:user_create", decision, target=f"user:{user.id}", change=change))
    return user


@dataclass(frozen=True)
class ChangeRole:
    user_id: int
    role: str
    grant: bool


def change_role(uow: UnitOfWork, actor: Actor, command: ChangeRole) -> bool:
    """Grant or revoke one role in the actor's network; False when nothing changed."""
    decision = manage(uow, actor)
    if command.role not in ASSIGNABLE_ROLES:
        raise InvalidInput(
            "Choose a role from the list.", {"role": N_("Choose a role from the list.")}
        )
    user = _user_in_network(uow, actor, command.user_id)
    if not command.grant and user.id == actor.user_id and command.role == Role.ADMIN:
        raise Conflict("You cannot remove your own admin role: ask another administrator to do it.")
    scope = uow.scoped(actor)
    held = scope.scalars(
        scope.select(RoleAssignment).where(
            RoleAssignment.user_id == user.id, RoleAssignment.role == command.role
        )
    ).first()
    if command.grant == (held is not None):
        return False
    if held is None:
        scope.add(RoleAssignment(user_id=user.id, network_id=actor.network_id, role=command.role))
    else:
        scope.delete(held)
    action = "admin:role_grant" if command.grant else "admin:role_revoke"
    change = {"role": command.role, "network_id": actor.network_id}
    uow.audit(record(actor, action, decision, target=f"user:{user.id}", change=change))
    uow.commit()
    return True


@dataclass(frozen=True)
class SetActive:
    user_id: int
    active: bool


def set_active(uow: UnitOfWork, actor: Actor, command: SetActive) -> bool:
    """Activate or deactivate a user; a deactivated user can no longer sign in or act."""
    decision = manage(uow, actor)
    user = _user_in_network(uow, actor, command.user_id)
    if not command.active and user.id == actor.user_id:
        raise Conflict(
            "You cannot deactivate your own account: ask another administrator to do it."
        )
    if user.active == command.active:
        return False
    user.active = command.active
    action = "admin:user_activate" if command.active else "admin:user_deactivate"
    change = {"active": command.active}
    uow.audit(record(actor, action, decision, target=f"user:{user.id}", change=change))
    uow.commit()
    return True


@dataclass(frozen=True)
class SetPassword:
    user_id: int
    password: str


def _password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"The password needs at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"The password has at most {MAX_PASSWORD} characters."
    return None


def set_password(uow: UnitOfWork, actor: Actor, command: SetPassword) -> None:
    """An administrator sets a user's password: the first one of an imported account, or a
    new one for a person who lost theirs. Their sessions elsewhere end with it."""
    decision = manage(uow, actor)
    user = _user_in_network(uow, actor, command.user_id)
    problem = _password_problem(command.password)
    if problem:
        raise InvalidInput(problem, {"password": problem})
    first = not has_password(user.password_hash)
    user.password_hash = hash_password(command.password)
    scope = uow.scoped(actor)
    scope.execute(scope.delete_where(WebSession).where(WebSession.user_id == user.id))
    change = {"first_password": first}
    target = f"user:{user.id}"
    uow.audit(record(actor, "admin:user_password", decision, target=target, change=change))
    uow.commit()


def user_row(uow: UnitOfWork, actor: Actor, user_id: int) -> UserRow:
    """One user of the network, for a page about them (the reset's confirmation)."""
    manage(uow, actor)
    _user_in_network(uow, actor, user_id)
    return _users(uow, actor, None, 1, only=user_id)[0]


def reset_second_factor(
    uow: UnitOfWork, actor: Actor, user_id: int, offered: second_factor.Confirmation
) -> None:
    """An administrator forgets a user's second factor (a lost phone): the user's sessions
    end and their next sign-in enrols anew. The administrator confirms with their own
    fresh second factor when they have one or must have one. Audited, the administrator as
    actor. Conflict if the user has none."""
    decision = manage(uow, actor)
    user = _user_in_network(uow, actor, user_id)
    second_factor.require_fresh(uow, actor, offered)
    if not second_factor.remove(uow, user.id):
        raise Conflict("{name} has no second factor to reset.", name=user.display_name)
    target = f"user:{user.id}"
    uow.audit(record(actor, "admin:second_factor_reset", decision, target=target))
    uow.commit()


def reset_second_factor_as_operator(uow: UnitOfWork, username: str, network_slug: str) -> None:
    """The operator's `referral users reset-second-factor USERNAME --network SLUG`: the
    same reset, recorded by that network's `system` actor, as other operator commands are.
    The user must belong to the network (through their organisation)."""
    session = uow.unscoped("the operator names a network and a user")
    network = session.scalar(select(Network).where(Network.slug == network_slug))
    if network is None:
        raise NotFound("no network '{network}'", network=network_slug)
    user = session.scalar(
        select(User)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(User.username == username, Organisation.network_id == network.id)
    )
    if user is None:
        raise NotFound(
            "no user '{username}' in network '{network}'", username=username, network=network_slug
        )
    if not second_factor.remove(uow, user.id):
        raise Conflict("user '{username}' has no second factor to reset", username=username)
    uow.audit(
        AuditRecord(
            action="admin:second_factor_reset",
            allowed=True,
            actor=system_actor(network.id, network.slug),
            target=f"user:{user.id}",
            change={"operator": True},
        )
    )
    uow.commit()


def list_organisations(uow: UnitOfWork, actor: Actor) -> list[OrganisationRow]:
    manage(uow, actor)
    return _organisations(uow, actor)


@dataclass(frozen=True)
class CreateOrganisation:
    name: str
    kind: str


def create_organisation(uow: UnitOfWork, actor: Actor, command: CreateOrganisation) -> int:
    """A new organisation (agency) of the actor's network."""
    decision = manage(uow, actor)
    name = command.name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Enter the organisation's name."
    elif len(name) > 200:
        errors["name"] = "The name has at most 200 characters."
    elif uow.scoped(actor).scalar(
        uow.scoped(actor)
        .select(Organisation.id)
        .where(func.lower(Organisation.name) == name.lower())
        .limit(1)
    ):
        errors["name"] = f"The network already has an organisation called '{name}'."
    if command.kind not in tuple(OrgKind):
        errors["kind"] = "Choose the kind of organisation from the list."
    if errors:
        raise InvalidInput("the new organisation has errors", errors)
    org = Organisation(network_id=actor.network_id, name=name, kind=command.kind)
    uow.scoped(actor).add(org)
    uow.flush()
    change = {"name": name, "kind": command.kind}
    uow.audit(
        record(
            actor,
            "admin:organisation_create",
            decision,
            target=f"organisation:{org.id}",
            change=change,
        )
    )
    uow.commit()
    return org.id
