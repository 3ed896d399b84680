"""One door to the data: what a service reads and writes, bound to the actor's network.

`uow.scoped(actor)` hands out a `Scope`. Everything it gives back is already restricted
to the actor's network, the way netbox restricts a queryset to what a user may see:

- `get(Model, id)` answers None for a row of another network. Tables without a
  `network_id` of their own are judged through the row they hang off (a consent through
  its case, an attendee through its meeting, a user through their organisation).
- `select(...)` adds `network_id = :network` for every scoped table it names, and
  `cases(category, act)` selects cases with the policy's SQL face (which carries the
  network itself); `readable=` does the same for a select that joins `Case`.
- `scalars`, `scalar` and `execute` run only statements this scope built: a query
  written on the plain session cannot slip through the scope by mistake.
- `add(row)` refuses a row of another network.

Work that is not one network's (sign-in before a network is chosen, retention and timers
run by the system across networks, the operator's commands) asks `uow.unscoped(reason)`
for the plain session, the reason written in the call.
"""

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, TypeVar

from sqlalchemy import (
    ColumnElement,
    Delete,
    Update,
    bindparam,
    delete,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import ScalarResult
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.base import Executable

from referral.authz.filters import case_filter
from referral.db import prepared
from referral.db.base import AnySelect, Base
from referral.db.repositories import Repositories, current_connection
from referral.db.sealing import open_columns
from referral.db.tables import (
    AgendaItem,
    Case,
    Consent,
    ConsentScopeRow,
    Contribution,
    Decision,
    InformationRequest,
    Intervention,
    MeetingAttendee,
    Network,
    Organisation,
    PanelMeeting,
    ProgressNote,
    Review,
    TransferProposal,
    User,
)
from referral.domain.actors import Actor
from referral.domain.errors import NotFound

if TYPE_CHECKING:
    from referral.services.uow import UnitOfWork

T = TypeVar("T", bound=Base)
# The side of a transfer proposal a network is on: it sends the case, or receives it.
Side = Literal["sending", "receiving"]
E = TypeVar("E", bound=Executable)

# The execution option that marks a statement as built by a scope, for which network:
# ANY for one built once (`prepared_select`), whose network the running scope binds.
SCOPE_OPTION = "referral_network"
ANY = "bound-at-execution"
NETWORK_PARAMETER = "scope_network"

# Tables without a network_id of their own: the column naming the row they hang off.
PARENTS: dict[type[Base], tuple[type[Base], str]] = {
    InformationRequest: (Case, "case_id"),
    Consent: (Case, "case_id"),
    Contribution: (Case, "case_id"),
    Decision: (Case, "case_id"),
    Intervention: (Case, "case_id"),
    Review: (Case, "case_id"),
    AgendaItem: (Case, "case_id"),
    MeetingAttendee: (PanelMeeting, "meeting_id"),
    ProgressNote: (Intervention, "intervention_id"),
    ConsentScopeRow: (Consent, "consent_id"),
    # A user belongs to one organisation, which belongs to one network.
    User: (Organisation, "organisation_id"),
}


class UnscopedQuery(TypeError):
    """A statement handed to a scope that the scope did not build: a programming error."""


def in_network(model: type[Base], actor: Actor) -> ColumnElement[bool]:
    """The network clause of one scoped table, for the actor's network.

    For helpers that build a clause before (or without) a scope: the audit readers hand
    their WHERE to short sessions of their own while a response streams.
    """
    column = network_column(model)
    if column is None:
        raise UnscopedQuery(f"{model.__name__} has no network_id: select it through its case")
    clause: ColumnElement[bool] = column == actor.network_id
    return clause


def network_column(model: type[Base]) -> Any:
    """The column that names a table's network, or None for a table that has none."""
    if model is Network:
        return Network.id
    return getattr(model, "network_id", None)


def prepared_select(*entities: Any) -> AnySelect:
    """`Scope.select` for a statement a module builds once per process and every scope runs:
    the network filters name a parameter that the running scope binds to its own network.

    Building a statement (and its cache key) costs far more than running it, so the hot
    reads of every request are built once, with their other values as bind parameters.
    """
    clauses = _network_clauses(entities, bindparam(NETWORK_PARAMETER))
    return select(*entities).where(*clauses).execution_options(**{SCOPE_OPTION: ANY})


def _network_clauses(
    entities: Sequence[Any], network: Any, *, skip: tuple[type[Base], ...] = ()
) -> list[ColumnElement[bool]]:
    """`network_id = network` for every scoped table the entities name, once each."""
    clauses: list[ColumnElement[bool]] = []
    seen: set[type[Base]] = set()
    for entity in entities:
        model = _model_of(entity)
        if model is None or model in seen:
            continue
        seen.add(model)
        if model in skip or network_column(model) is None:
            continue
        # An aliased entity filters on its own alias, not on the base table.
        clauses.append(_on_entity(entity, model) == network)
    return clauses


class Scope:
    """The actor's network, applied once, in the queries and writes a service uses."""

    def __init__(self, uow: "UnitOfWork", actor: Actor) -> None:
        self._uow = uow
        # Private: a service that holds a scope has no plain session at hand.
        self._session: Session = uow.session
        self.actor = actor
        self.network_id = actor.network_id
        # The named queries, bound to this network: their getters answer None elsewhere.
        self.repo = Repositories(self._session, network_id=self.network_id)

    def serves(self, session: Session) -> bool:
        """Whether this scope works in `session` (a unit of work opens one per entry)."""
        return self._session is session

    # -- rows -----------------------------------------------------------------------------

    def get(self, model: type[T], ident: int, *, for_update: bool = False) -> T | None:
        """The row, or None when it does not exist or belongs to another network."""
        row = self._session.get(model, ident, with_for_update=for_update or None)
        if row is None or self.network_of(row) != self.network_id:
            return None
        return row

    def network_of(self, row: Base) -> int | None:
        """The network a row belongs to, directly or through the row it hangs off."""
        model = type(row)
        if model is Network:
            return int(row.id)  # type: ignore[attr-defined]
        if isinstance(row, TransferProposal):  # written by the sending network
            return int(row.from_network_id)
        if hasattr(row, "network_id"):
            value = row.network_id
            return int(value) if value is not None else None
        if model not in PARENTS:
            raise UnscopedQuery(f"{model.__name__} has no network: it is not a scoped table")
        parent_model, column = PARENTS[model]
        parent_id = getattr(row, column)
        parent = self._session.get(parent_model, parent_id) if parent_id is not None else None
        return self.network_of(parent) if parent is not None else None

    def add(self, row: Base) -> None:
        """Stage a new row of this network; a row of another network is refused."""
        if self.network_of(row) != self.network_id:
            raise NotFound("{table}: not found in this network", table=type(row).__tablename__)
        self._session.add(row)

    def add_all(self, rows: Iterable[Base]) -> None:
        for row in rows:
            self.add(row)

    def delete(self, row: Base) -> None:
        if self.network_of(row) != self.network_id:
            raise NotFound("{table}: not found in this network", table=type(row).__tablename__)
        self._session.delete(row)

    # -- transfers: a proposal is two networks', each on its own side of it ----------------

    def transfer(
        self, proposal_id: int, side: Side, *, for_update: bool = False
    ) -> TransferProposal | None:
        """The proposal, if this network is on that side of it; None otherwise."""
        row = self._session.get(TransferProposal, proposal_id, with_for_update=for_update or None)
        if row is None or _side_network(side) is None:
            return None
        network = row.from_network_id if side == "sending" else row.to_network_id
        return row if network == self.network_id else None

    def transfers(self, side: Side, *entities: Any) -> AnySelect:
        """`select(*entities)` of the proposals this network sends or receives; other
        tables joined in (the other network's name) are the caller's to restrict."""
        return self._stamp(select(*entities).where(_side_network(side) == self.network_id))

    # -- statements -----------------------------------------------------------------------

    def where(self, model: type[Base]) -> ColumnElement[bool]:
        """The network clause of one scoped table, for a table joined into a select."""
        return in_network(model, self.actor)

    def select(self, *entities: Any, readable: tuple[str, str] | None = None) -> AnySelect:
        """`select(*entities)` with the network filter applied to every scoped table named.

        `readable=(category, act)` adds the policy's SQL face for cases instead of the bare
        network filter on `Case`: the cases the actor may `act` on `category` now.
        """
        skip = (Case,) if readable is not None else ()
        clauses = _network_clauses(entities, self.network_id, skip=skip)
        if readable is not None:
            clauses.append(self.case_filter(*readable))
        return self._stamp(select(*entities).where(*clauses))

    def cases(self, category: str, act: str) -> AnySelect:
        """The cases the actor may `act` on `category` now, by the policy's SQL face."""
        return self._stamp(select(Case).where(self.case_filter(category, act)))

    def case_filter(self, category: str, act: str) -> ColumnElement[bool]:
        """The policy-derived WHERE clause (it includes the network) for named queries."""
        return case_filter(self._uow.authz, self.actor, category, act, self._uow.now)

    def count(self, model: type[Base], *criteria: ColumnElement[bool]) -> int:
        """How many of the network's rows of `model` match: one count, no rows loaded."""
        statement = select(func.count()).select_from(model).where(self.where(model), *criteria)
        return int(self._session.scalar(statement) or 0)

    def update(self, model: type[Base]) -> Update:
        return self._stamp(update(model).where(self.where(model)))

    def delete_where(self, model: type[Base]) -> Delete:
        return self._stamp(delete(model).where(self.where(model)))

    def scalars(self, statement: Executable, **values: Any) -> ScalarResult[Any]:
        return self._session.scalars(*self._bound(statement, values))

    def scalar(self, statement: Executable, **values: Any) -> Any:
        return self._session.scalar(*self._bound(statement, values))

    def execute(self, statement: Executable, **values: Any) -> Any:
        """The statement's `Result` (typed loosely: its rows are as wide as the select)."""
        return self._session.execute(*self._bound(statement, values))

    def all(self, statement: Executable, **values: Any) -> Sequence[Any]:
        return self.scalars(statement, **values).all()

    def rows(self, model: type[Base], statement: Executable, **values: Any) -> list[dict[str, Any]]:
        """The statement's rows as plain dicts, the sealed columns of `model` opened: for
        reads that show values and need no mapped objects. `values` bind the parameters of
        a statement built once (`prepared_select`); the scope binds its network itself."""
        statement, values = self._bound(statement, values)
        connection = current_connection(self._session)
        if _built_once(statement):  # on the cursor; one built per call is not worth compiling
            found = prepared.mappings(connection, statement, values)
        else:
            found = [dict(row) for row in connection.execute(statement, values).mappings()]
        open_columns(self._session, model, found)
        return found

    def tuples(self, statement: prepared.Statement, **values: Any) -> list[tuple[Any, ...]]:
        """The rows of a statement built once (`prepared_select`, or a union of them), as
        tuples, run on the driver's cursor (db.prepared); the scope binds its network."""
        _, values = self._bound(statement, values)
        return prepared.run(current_connection(self._session), statement, values)

    def open_rows(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """Open, in place, the sealed values of `model`'s columns in plain rows."""
        open_columns(self._session, model, rows)

    def _bound(
        self, statement: Executable, values: dict[str, Any]
    ) -> tuple[Executable, dict[str, Any]]:
        """A statement this scope may run, and its values: with this scope's network for a
        statement built once (an INSERT or UPDATE would refuse a value it has no use for)."""
        if _built_once(statement):
            values[NETWORK_PARAMETER] = self.network_id
        elif statement.get_execution_options().get(SCOPE_OPTION) != self.network_id:
            raise UnscopedQuery("this statement was not built by the scope: use scope.select")
        return statement, values

    def _stamp(self, statement: E) -> E:
        return statement.execution_options(**{SCOPE_OPTION: self.network_id})


def _built_once(statement: Executable) -> TypeGuard[prepared.Statement]:
    """A statement of `prepared_select`: built once per process, its network bound when
    a scope runs it."""
    return statement.get_execution_options().get(SCOPE_OPTION) == ANY


def _model_of(entity: Any) -> type[Base] | None:
    """The mapped class behind an entity, an aliased entity or a column; None otherwise."""
    info = inspect(entity, raiseerr=False)
    if isinstance(entity, QueryableAttribute):
        info = entity.parent  # a column: its class, or the alias it was taken from
    mapper = getattr(info, "mapper", None)
    if mapper is None:
        return None
    model = mapper.class_
    return model if isinstance(model, type) and issubclass(model, Base) else None


def _on_entity(entity: Any, model: type[Base]) -> Any:
    """The network column as seen through `entity` (the class, an alias, or a column's)."""
    info = inspect(entity, raiseerr=False)
    if getattr(info, "is_aliased_class", False):
        return getattr(entity, network_column(model).key)
    parent = getattr(info, "parent", None)
    if parent is not None and getattr(parent, "is_aliased_class", False):
        return getattr(parent.entity, network_column(model).key)
    return network_column(model)


def _side_network(side: Side) -> Any:
    return {
        "sending": TransferProposal.from_network_id,
        "receiving": TransferProposal.to_network_id,
    }.get(side)
