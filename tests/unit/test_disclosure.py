"""Small-cell suppression: nothing below the threshold is shown, and no hidden entry can be
recovered from what is shown by differencing totals (or any linear combination of the
tables' equations). The checks here are written apart from the module's own: a dense,
exact rank test per hidden entry, and the plain row/column differencing an attacker does.
"""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from referral.domain.disclosure import Entry, Table, suppress

THRESHOLD = 5


def _rank(rows: list[list[Fraction]]) -> int:
    """Rank by plain dense Gaussian elimination over the rationals."""
    m = [r[:] for r in rows]
    rank, cols = 0, len(m[0]) if m else 0
    for col in range(cols):
        pivot = next((i for i in range(rank, len(m)) if m[i][col] != 0), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        for i in range(len(m)):
            if i != rank and m[i][col] != 0:
                f = m[i][col] / m[rank][col]
                m[i] = [a - f * b for a, b in zip(m[i], m[rank], strict=True)]
        rank += 1
    return rank


def _recoverable(tables: list[Table], hidden: set[Entry]) -> set[Entry]:
    """Hidden entries fixed by the equations: adding the entry's unit vector to the
    equations (restricted to hidden entries) leaves their rank unchanged."""
    unknowns = sorted(hidden)
    index = {e: i for i, e in enumerate(unknowns)}
    rows = []
    for table in tables:
        for equation in table.equations():
            row = [Fraction(0)] * len(unknowns)
            for e, c in equation.items():
                if e in index:
                    row[index[e]] = Fraction(c)
            rows.append(row)
    base = _rank(rows)
    found = set()
    for e in unknowns:
        unit = [Fraction(0)] * len(unknowns)
        unit[index[e]] = Fraction(1)
        if _rank([*rows, unit]) == base:
            found.add(e)
    return found


def _publication(
    records: list[tuple[int, tuple[int, ...], int]], dimensions: tuple[str, ...] = ("q",)
) -> tuple[list[Table], dict[Entry, int]]:
    """Tables built from records (network, a value per dimension, how many), one per
    dimension with networks down the side, sharing their row totals as the page does."""
    rows = tuple(sorted({f"n{r}" for r, _, _ in records}))
    tables, values = [], {}
    for d, name in enumerate(dimensions):
        columns = tuple(sorted({f"{name}{v[d]}" for _, v, _ in records}))
        table = Table(name, rows, columns, "network", name, "all")
        tables.append(table)
        for entry in table.edges():
            values[entry[2]] = 0
        for r, v, n in records:
            values[table.cell(f"n{r}", f"{name}{v[d]}")] += n
            values[table.row_total(f"n{r}")] += n
            values[table.column_total(f"{name}{v[d]}")] += n
            values[table.total] += n
    return tables, values


def _grid(grid: list[list[int]]) -> list[tuple[int, tuple[int, ...], int]]:
    return [(i, (j,), n) for i, line in enumerate(grid) for j, n in enumerate(line) if n]


def _differencing(tables: list[Table], hidden: set[Entry]) -> list[Entry]:
    """What an attacker gets by subtracting a line's published entries from its total."""
    found = []
    for table in tables:
        for equation in table.equations():
            unknown = [e for e in equation if e in hidden]
            if len(unknown) == 1:
                found.append(unknown[0])
    return found


def test_a_lone_small_cell_in_a_row_hides_a_second_one_and_a_second_row() -> None:
    tables, values = _publication(_grid([[3, 40, 50], [20, 30, 60]]))
    hidden = suppress(tables, values, THRESHOLD)
    cell = tables[0].cell("n0", "q0")
    assert cell in hidden
    assert len([e for e in hidden if e[0] == "cell"]) >= 4  # a 2 x 2 cycle at least
    assert not _differencing(tables, hidden)
    assert not _recoverable(tables, hidden)


def test_nothing_is_hidden_when_every_entry_reaches_the_threshold() -> None:
    tables, values = _publication(_grid([[5, 9], [7, 12]]))
    assert suppress(tables, values, THRESHOLD) == set()


def test_a_small_row_total_is_hidden_in_every_table_that_shares_it() -> None:
    records = [(0, (0, 0), 1), (0, (1, 0), 2), (1, (0, 0), 30), (1, (1, 1), 40)]
    tables, values = _publication(records, ("q", "kind"))
    hidden = suppress(tables, values, THRESHOLD)
    assert ("total", "network", "n0") in hidden
    assert not _recoverable(tables, hidden)


def test_tables_sharing_totals_are_protected_together() -> None:
    records = [
        (0, (0, 1), 1), (0, (1, 0), 50), (0, (2, 2), 60), (1, (0, 0), 2), (1, (1, 1), 70),
        (1, (2, 2), 80), (2, (0, 1), 90), (2, (1, 2), 95), (2, (2, 0), 99),
    ]  # fmt: skip
    tables, values = _publication(records, ("q", "kind"))
    hidden = suppress(tables, values, THRESHOLD)
    assert not _recoverable(tables, hidden)


records = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 3)),
        st.integers(1, 9),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(records, st.integers(1, 3))
def test_no_published_table_lets_a_hidden_entry_be_recovered(
    records: list[tuple[int, tuple[int, ...], int]], width: int
) -> None:
    tables, values = _publication(records, ("q", "kind", "age")[:width])
    hidden = suppress(tables, values, THRESHOLD)
    shown = {e: v for e, v in values.items() if e not in hidden}
    assert all(v >= THRESHOLD for v in shown.values())  # every shown count reaches it
    assert not _differencing(tables, hidden)  # no line gives away its one hidden entry
    assert not _recoverable(tables, hidden)  # nor does any combination of the equations
