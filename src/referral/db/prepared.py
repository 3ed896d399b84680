"""The fixed reads of every request, run straight on the driver's cursor.

A select built once per process (its values as bind parameters) still costs about 40 µs
a run inside SQLAlchemy's `Connection.execute`: an execution context, a cursor result,
row objects (measured here: 48 µs against 4 µs on the sqlite3 cursor for a one-row
select). A case read runs a dozen such selects. `run` compiles each statement once per
dialect and executes it on the session's own DBAPI connection, in its transaction, with
SQLAlchemy's own bind and result processors applied, so the values are exactly those
`execute` would give. The engine's `before_cursor_execute` listeners (the statement
counters of the benchmarks and tests) still hear of every statement.

For statements whose parameters are plain values: a statement with an expanding
parameter (`IN` over a list), or one whose columns take defaults computed at execution,
goes through `Connection.execute` as usual. `write` does the same for the INSERTs and
UPDATEs of every move (its timers, its case, its audit entries). A driver's error is
raised as SQLAlchemy raises it (`sqlalchemy.exc.DBAPIError` and its kinds), so callers
catch the same exceptions whichever path ran.
"""

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Never

from sqlalchemy import CompoundSelect, Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import ValuesBase

from referral.db.base import AnySelect

# A select, or a UNION ALL of selects: what `run` takes; an INSERT or UPDATE: `write`.
Statement = AnySelect | CompoundSelect[*tuple[Any, ...]] | ValuesBase

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bind parameters, in the order the driver takes them
    positional: bool  # the driver takes a sequence (sqlite3), not a mapping (psycopg)
    defaults: dict[str, Any]  # values written into the statement when it was built
    binds: dict[str, Processor]
    keys: tuple[str, ...]
    processed: tuple[tuple[int, Processor], ...]  # the result columns with a processor
    row_type: Any  # a named tuple of `keys`, for `named`

    @cached_property
    def _plan(self) -> tuple[tuple[str, Processor | None], ...]:
        """Each parameter once, with its bind processor: what `parameters` walks."""
        return tuple((name, self.binds.get(name)) for name in dict.fromkeys(self.names))

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        bound = {}
        defaults = self.defaults
        for name, process in self._plan:
            value = values[name] if name in values else defaults[name]
            bound[name] = value if process is None else process(value)
        if self.positional:  # a name used twice is sent twice
            return tuple([bound[name] for name in self.names])
        return bound


_COMPILED: dict[tuple[Statement, str], _Compiled | None] = {}


def _compile(statement: Statement, dialect: Dialect) -> _Compiled | None:
    """The statement as the driver takes it; None when only `execute` can run it."""
    compiled: Any = statement.compile(dialect=dialect)
    if any(bind.expanding for bind in compiled.binds.values()):
        return None  # an IN over a list: its SQL depends on the list's length
    if any(bind.required for bind in compiled.literal_execute_params):
        return None  # a value written into the SQL, known only at run time
    if compiled.insert_prefetch or compiled.update_prefetch:
        return None  # a column default computed per execution: only `execute` fills it
    sql, written = _write_literals(compiled)
    names = (
        tuple(compiled.positiontup) if compiled.positional else tuple(compiled.bind_names.values())
    )
    names = tuple(name for name in names if name not in written)
    # A value given when the statement was built (a literal, None included); a bind
    # parameter built without one is required at run time.
    defaults = {
        name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
    }
    binds = {name: process for name, process in compiled._bind_processors.items() if process}
    columns = compiled._result_columns
    keys = tuple(column.keyname for column in columns)
    return _Compiled(
        row_type=namedtuple("Row", keys, rename=True),
        sql=sql,
        names=names,
        positional=bool(compiled.positional),
        defaults=defaults,
        binds=binds,
        keys=keys,
        processed=tuple(
            (index, process)
            for index, column in enumerate(columns)
            if (process := column.type._cached_result_processor(dialect, None))
        ),
    )


def _write_literals(compiled: Any) -> tuple[str, frozenset[str]]:
    """The SQL with the values SQLAlchemy writes into its text at each execution (the
    separator of `aggregate_strings`) written in once: they were fixed when the statement
    was built. Returns the text and the names of the parameters it no longer takes."""
    sql, written = compiled.string, set()
    for bind in compiled.literal_execute_params:
        name = compiled.bind_names[bind]
        literal = compiled.render_literal_value(bind.effective_value, bind.type)
        sql = sql.replace(f"__[POSTCOMPILE_{name}]", literal)
        written.add(name)
    return sql, frozenset(written)


# Only statements built once per process come here, a few dozen; past this many, some
# caller builds them per call, and keeping each would only grow the process.
_MOST_COMPILED = 1024


def _compiled(statement: Statement, dialect: Dialect) -> _Compiled | None:
    key = (statement, dialect.name)
    if key in _COMPILED:
        return _COMPILED[key]
    compiled = _compile(statement, dialect)
    if len(_COMPILED) < _MOST_COMPILED:
        _COMPILED[key] = compiled
    return compiled


def run(
    connection: Connection, statement: Statement, values: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of `statement` with `values` bound, as tuples in its column order."""
    compiled = _compiled(statement, connection.dialect)
    if compiled is None:
        return [tuple(row) for row in connection.execute(statement, dict(values))]
    parameters = compiled.parameters(values)
    cursor = connection.connection.cursor()
    try:
        _heard(connection, cursor, compiled.sql, parameters, many=False)
        cursor.execute(compiled.sql, parameters)
        fetched = cursor.fetchall()
    except connection.dialect.loaded_dbapi.Error as error:
        _raise(connection, error, compiled.sql, parameters, cursor)
    finally:
        cursor.close()
    processed = compiled.processed
    if not processed:
        return [tuple(row) for row in fetched]
    # Only the columns with a processor are touched: a wide row (a UNION ALL of parts
    # side by side) is mostly plain values and NULLs.
    rows = []
    for row in fetched:
        cells = list(row)
        for index, process in processed:
            cells[index] = process(cells[index])
        rows.append(tuple(cells))
    return rows


def run_by_index(
    connection: Connection, statement: Statement, values: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """As `run`, for a newest-first LIMIT over one key's range of an index (a case's audit
    entries by (case_id, id)): on PostgreSQL, planned without bitmap scans.

    The planner guesses how many entries a case has from statistics that lag behind the
    log: a case read all day since the last ANALYZE looks like a case of a hundred
    entries, and for so few a bitmap scan of all of them, sorted, looks cheaper than
    walking the index backwards and stopping at the LIMIT. Measured: 131 ms for a case
    of 24,000 entries, against 0.2 ms. Without bitmap scans the index walk is the plan
    whatever the statistics say. Two more round trips; SQLite's planner needs neither.
    """
    if connection.dialect.name != "postgresql":
        return run(connection, statement, values)
    send(connection, "SET LOCAL enable_bitmapscan = off")
    rows = run(connection, statement, values)
    # Not in a `finally`: after a failed statement the transaction is void, and so is
    # the setting; a RESET there would only hide the error.
    send(connection, "RESET enable_bitmapscan")
    return rows


def mappings(
    connection: Connection, statement: Statement, values: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """As `run`, each row a dict keyed by column name."""
    compiled = _compiled(statement, connection.dialect)
    if compiled is None:
        return [dict(row) for row in connection.execute(statement, dict(values)).mappings()]
    return [
        dict(zip(compiled.keys, row, strict=True)) for row in run(connection, statement, values)
    ]


def named(connection: Connection, statement: AnySelect, values: Mapping[str, Any]) -> list[Any]:
    """As `run`, each row a named tuple: by position or by column name."""
    compiled = _compiled(statement, connection.dialect)
    if compiled is None:
        return list(connection.execute(statement, dict(values)))
    return [compiled.row_type._make(row) for row in run(connection, statement, values)]


def write(connection: Connection, statement: ValuesBase, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run an INSERT or UPDATE built once for each of `rows` (one executemany when there
    are several, as `execute` would send them); how many rows it changed in all."""
    if not rows:
        return 0
    compiled = _compiled(statement, connection.dialect)
    if compiled is None:
        many = [dict(row) for row in rows]
        return connection.execute(statement, many if len(many) > 1 else many[0]).rowcount
    parameters: list[Any] = [compiled.parameters(row) for row in rows]
    cursor = connection.connection.cursor()
    try:
        if len(parameters) == 1:
            _heard(connection, cursor, compiled.sql, parameters[0], many=False)
            cursor.execute(compiled.sql, parameters[0])
        else:
            _heard(connection, cursor, compiled.sql, parameters, many=True)
            cursor.executemany(compiled.sql, parameters)
        return int(cursor.rowcount)
    except connection.dialect.loaded_dbapi.Error as error:
        _raise(connection, error, compiled.sql, parameters, cursor)
    finally:
        cursor.close()


def send(connection: Connection, sql: str) -> None:
    """Send one fixed statement that takes no parameters and answers no rows (a BEGIN),
    as `exec_driver_sql` would, without its execution context: every transaction sends one."""
    cursor = connection.connection.cursor()
    try:
        _heard(connection, cursor, sql, (), many=False)
        cursor.execute(sql)
    except connection.dialect.loaded_dbapi.Error as error:
        _raise(connection, error, sql, (), cursor)
    finally:
        cursor.close()


def _heard(connection: Connection, cursor: Any, sql: str, parameters: Any, *, many: bool) -> None:
    """Tell the engine's `before_cursor_execute` listeners, as `execute` does. Asked of
    the event itself: the engine has listeners of other events (every BEGIN has one)."""
    listeners = connection.dispatch.before_cursor_execute
    if listeners:
        listeners(connection, cursor, sql, parameters, None, many)


def _raise(
    connection: Connection, error: Exception, sql: str, parameters: Any, cursor: Any
) -> Never:
    """Raise the driver's error as `execute` raises it: wrapped in SQLAlchemy's exception
    of its kind (IntegrityError, OperationalError...), the connection invalidated if it
    was lost. `_handle_dbapi_exception` is SQLAlchemy's own path for this, the one its
    `execute` takes; there is no public one that also invalidates."""
    connection._handle_dbapi_exception(error, sql, parameters, cursor, None)
    raise error  # not reached: the call above always raises
