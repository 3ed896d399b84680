"""Accounts at scale: organisations, users and their roles from one CSV file.

One line a user, under a header naming the columns (in any order):

    network,organisation,organisation_kind,username,display_name,email,roles
    riverside,Riverside Police,police,sam.gateway,Sam Gateway,sam@police.example,screener
    riverside,Riverside Council,local_authority,cora.lead,Cora Lead,,coordinator;panel_member

An organisation the network does not have yet is created with its kind; one it has must
be named with the kind it has. Usernames are new (the import creates accounts, it changes
none). Roles are separated by `;` (or spaces). The file holds no password: an imported
account cannot sign in until an administrator sets its first password (the Users page,
or `referral users set-password`).

Every problem is named by line and column, and nothing is written unless the whole file
is valid: the check runs in full first, then every row is written in one transaction,
with its audit entries (`admin:organisation_create` and `admin:user_create` as when
made by hand, and one `admin:users_import` for the file, with its SHA-256).
"""

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Decision, Permission
from referral.db.tables import Network, Organisation, RoleAssignment, User
from referral.domain.actors import Actor, system_actor
from referral.domain.vocabulary import OrgKind
from referral.security import NO_PASSWORD_YET
from referral.services.access import authorise, record
from referral.services.admin import ASSIGNABLE_ROLES, EMAIL, USERNAME
from referral.services.uow import UnitOfWork

COLUMNS = ("network", "organisation", "organisation_kind", "username", "display_name", "email",
           "roles")  # fmt: skip
REQUIRED = frozenset(COLUMNS) - {"email"}
MAX_USERS = 10_000
MAX_BYTES = 4 * 1024 * 1024
_ROLE_SEPARATOR = re.compile(r"[;\s]+")
# Who writes a network's lines, by the network's slug; None: a network one may not name.
_Acting = Callable[[str], Actor | None]


@dataclass(frozen=True, order=True)
class Problem:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Row:
    line: int
    network: str
    organisation: str
    kind: str
    username: str
    display_name: str
    email: str
    roles: tuple[str, ...]


@dataclass
class Report:
    """What the file holds (or held, once applied), and what is wrong with it."""

    problems: list[Problem] = field(default_factory=list)
    users: list[Row] = field(default_factory=list)
    new_organisations: list[tuple[str, str, str]] = field(default_factory=list)  # net, name, kind
    applied: bool = False

    @property
    def valid(self) -> bool:
        return not self.problems


def read_file(raw: bytes) -> tuple[str, list[Problem]]:
    """The file as text, or the problem that stops it being read at all."""
    if len(raw) > MAX_BYTES:
        return "", [Problem(0, "", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return "", [Problem(line, "", "is not UTF-8 text (save the file as CSV UTF-8)")]


def parse(text: str) -> tuple[list[Row], list[Problem]]:
    """The rows of a users file and what is wrong with each, by form alone."""
    lines = list(csv.reader(io.StringIO(text, newline="")))
    while lines and not any(cell.strip() for cell in lines[-1]):
        lines.pop()
    if not lines:
        return [], [Problem(1, "", "the file is empty: the first line names the columns")]
    header = [cell.strip().lower() for cell in lines[0]]
    problems = [
        Problem(1, name, "is not a column of a users file")
        for name in header
        if name not in COLUMNS
    ]
    problems += [
        Problem(1, name, "is missing from the header line") for name in COLUMNS
        if name in REQUIRED and name not in header
    ]  # fmt: skip
    if problems:
        return [], problems
    if len(lines) - 1 > MAX_USERS:
        return [], [Problem(MAX_USERS + 2, "", f"a file holds at most {MAX_USERS} users")]
    rows: list[Row] = []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) != len(header):
            problems.append(
                Problem(number, "", f"has {len(cells)} fields where the header has {len(header)}")
            )
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
        row, found = _row(number, values)
        rows.append(row)
        problems += found
    if not rows and not problems:
        problems.append(Problem(2, "", "the file names no user"))
    return rows, problems


def _row(line: int, v: dict[str, str]) -> tuple[Row, list[Problem]]:
    problems: list[Problem] = []

    def problem(column: str, message: str) -> None:
        problems.append(Problem(line, column, message))

    roles = tuple(r for r in _ROLE_SEPARATOR.split(v["roles"]) if r)
    for name in REQUIRED - {"roles", "organisation_kind"}:
        if not v[name]:
            problem(name, "is empty")
    if v["username"] and not USERNAME.fullmatch(v["username"]):
        problem("username", "needs 3 to 64 letters, digits, dots, hyphens or underscores")
    if len(v["display_name"]) > 200:
        problem("display_name", "has more than 200 characters")
    if len(v["organisation"]) > 200:
        problem("organisation", "has more than 200 characters")
    email = v.get("email", "")
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        problem("email", f"'{email}' is no e-mail address (or leave it empty)")
    if v["organisation_kind"] not in tuple(OrgKind):
        kinds = ", ".join(OrgKind)
        problem("organisation_kind", f"'{v['organisation_kind']}' is not one of: {kinds}")
    if not roles:
        problem("roles", "names no role")
    for role in roles:
        if role not in ASSIGNABLE_ROLES:
            problem("roles", f"'{role}' is not a role (one of: {', '.join(ASSIGNABLE_ROLES)})")
    row = Row(line, v["network"], v["organisation"], v["organisation_kind"], v["username"],
              v["display_name"], email, tuple(sorted(set(roles))))  # fmt: skip
    return row, problems


# -- against the database ----------------------------------------------------------------


@dataclass(frozen=True)
class ImportUsers:
    content: bytes
    apply: bool  # False: a dry run, that checks everything and writes nothing


def import_as_admin(uow: UnitOfWork, actor: Actor, command: ImportUsers) -> Report:
    """An administrator's import: every line must name the administrator's own network."""
    decision = authorise(uow, actor, Permission.ADMIN_MANAGE.value, None)
    return _import(uow, command, lambda slug: actor if slug == actor.network else None, decision)


def import_as_operator(uow: UnitOfWork, command: ImportUsers) -> Report:
    """The operator's import (`referral users import`): any network of the deployment,
    each line recorded by that network's `system` actor, as other operator commands."""
    networks = {
        n.slug: n for n in uow.unscoped("the operator names networks").scalars(select(Network))
    }

    def acting(slug: str) -> Actor | None:
        network = networks.get(slug)
        return system_actor(network.id, network.slug) if network else None

    return _import(uow, command, acting, None)


def _import(
    uow: UnitOfWork,
    command: ImportUsers,
    acting: _Acting,
    decision: Decision | None,
) -> Report:
    text, problems = read_file(command.content)
    rows, problems = parse(text) if not problems else ([], problems)
    report = Report(problems=problems, users=rows)
    known = _check_against_database(uow, rows, acting, report)
    report.problems.sort()
    if not report.valid or not command.apply:
        return report
    _write(uow, rows, acting, known, decision, command.content)
    uow.commit()
    report.applied = True
    return report


def _check_against_database(
    uow: UnitOfWork, rows: list[Row], acting: _Acting, report: Report
) -> dict[tuple[str, str], Organisation]:
    """Network, organisation and username of each row against the database and the rest
    of the file; the organisations that exist already, by (network, lower-case name)."""
    known: dict[tuple[str, str], Organisation] = {}
    kinds: dict[tuple[str, str], tuple[str, int]] = {}
    first_line: dict[str, int] = {}
    taken = _taken_usernames(uow, [r.username for r in rows])
    for row in rows:

        def problem(column: str, message: str, line: int = row.line) -> None:
            report.problems.append(Problem(line, column, message))

        actor = acting(row.network) if row.network else None
        if row.network and actor is None:
            problem("network", f"'{row.network}' is not a network you may import into")
        key = (row.network, row.organisation.lower())
        if actor is not None and row.organisation and key not in known:
            scope = uow.scoped(actor)
            found = scope.scalars(
                scope.select(Organisation).where(
                    func.lower(Organisation.name) == row.organisation.lower()
                )
            ).first()
            if isinstance(found, Organisation):
                known[key] = found
        existing = known.get(key)
        if existing is not None and row.kind and existing.kind != row.kind:
            problem(
                "organisation_kind",
                f"'{row.organisation}' is of kind {existing.kind}, not {row.kind}",
            )
        elif existing is None and row.organisation:
            kind, line = kinds.setdefault(key, (row.kind, row.line))
            if kind != row.kind:
                problem("organisation_kind", f"line {line} gives '{row.organisation}' kind {kind}")
            elif line == row.line and actor is not None and row.kind in tuple(OrgKind):
                report.new_organisations.append((row.network, row.organisation, row.kind))
        name = row.username.lower()
        if name in taken:
            problem("username", f"'{row.username}' is taken already")
        elif name and first_line.setdefault(name, row.line) != row.line:
            problem("username", f"'{row.username}' is also on line {first_line[name]}")
    return known


def _taken_usernames(uow: UnitOfWork, usernames: Iterable[str]) -> set[str]:
    wanted = sorted({u.lower() for u in usernames if u})
    session = uow.unscoped("usernames are unique across the deployment")
    taken: set[str] = set()
    for start in range(0, len(wanted), 500):  # bounded IN lists
        chunk = wanted[start : start + 500]
        taken.update(
            session.scalars(select(func.lower(User.username)).where(func.lower(User.username).in_(chunk)))
        )  # fmt: skip
    return taken


def _write(
    uow: UnitOfWork,
    rows: list[Row],
    acting: _Acting,
    known: dict[tuple[str, str], Organisation],
    decision: Decision | None,
    content: bytes,
) -> None:
    audited: dict[str, Actor] = {}
    counts: dict[str, list[int]] = {}  # network -> [organisations, users]
    for row in rows:
        actor = acting(row.network)
        assert actor is not None  # checked
        audited[row.network] = actor
        tally = counts.setdefault(row.network, [0, 0])
        scope = uow.scoped(actor)
        key = (row.network, row.organisation.lower())
        org = known.get(key)
        if org is None:
            org = Organisation(network_id=actor.network_id, name=row.organisation, kind=row.kind)
            scope.add(org)
            uow.flush()
            known[key] = org
            tally[0] += 1
            change = {"name": org.name, "kind": org.kind, "import": True}
            uow.audit(_record(actor, decision, "admin:organisation_create",
                              f"organisation:{org.id}", change))  # fmt: skip
        user = User(
            username=row.username,
            display_name=row.display_name,
            email=row.email,
            organisation_id=org.id,
            password_hash=NO_PASSWORD_YET,
            active=True,
            created_at=uow.now,
        )
        scope.add(user)
        uow.flush()  # a username taken meanwhile is a Conflict here, not a 500
        scope.add_all(
            RoleAssignment(user_id=user.id, network_id=actor.network_id, role=r) for r in row.roles
        )
        tally[1] += 1
        change = {"username": user.username, "organisation_id": org.id, "roles": list(row.roles),
                  "email_set": bool(user.email), "import": True}  # fmt: skip
        uow.audit(_record(actor, decision, "admin:user_create", f"user:{user.id}", change))
    digest = hashlib.sha256(content).hexdigest()
    for slug, actor in audited.items():
        organisations, users = counts[slug]
        change = {"sha256": digest, "organisations": organisations, "users": users}
        uow.audit(_record(actor, decision, "admin:users_import", f"network:{actor.network_id}",
                          change))  # fmt: skip


def _record(
    actor: Actor, decision: Decision | None, action: str, target: str, change: dict[str, object]
) -> AuditRecord:
    if decision is not None:
        return record(actor, action, decision, target=target, change=change)
    return AuditRecord(action=action, allowed=True, actor=actor, target=target, change=change)
