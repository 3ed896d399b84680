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
    counts: dict[str, list[list[int]]],
) -> tuple[list[Table], dict[Entry, int]]:
    """Tables sharing their row totals (one per dimension, as the statistics page does)."""
    tables, values = [], {}
    for name, grid in counts.items():
        rows = tuple(f"n{i}" for i in range(len(grid)))
        columns = tuple(f"{name}{j}" for j in range(len(grid[0])))
        table = Table(name, rows, columns, "network", name, "all")
        tables.append(table)
        for i, r in enumerate(rows):
            for j, c in enumerate(columns):
                values[table.cell(r, c)] = grid[i][j]
            values[table.row_total(r)] = sum(grid[i])
        for j, c in enumerate(columns):
            values[table.column_total(c)] = sum(grid[i][j] for i in range(len(rows)))
        values[table.total] = sum(map(sum, grid))
    return tables, values


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
    tables, values = _publication({"q": [[3, 40, 50], [20, 30, 60]]})
    hidden = suppress(tables, values, THRESHOLD)
    cell = tables[0].cell("n0", "q0")
    assert cell in hidden
    assert len([e for e in hidden if e[0] == "cell"]) >= 4  # a 2 x 2 cycle at least
    assert not _differencing(tables, hidden)
    assert not _recoverable(tables, hidden)


def test_nothing_is_hidden_when_every_entry_reaches_the_threshold() -> None:
    tables, values = _publication({"q": [[5, 9], [7, 12]]})
    assert suppress(tables, values, THRESHOLD) == set()


def test_a_small_row_total_is_hidden_in_every_table_that_shares_it() -> None:
    tables, values = _publication({"q": [[1, 2], [30, 40]], "kind": [[3, 0], [35, 35]]})
    hidden = suppress(tables, values, THRESHOLD)
    assert ("total", "network", "n0") in hidden
    assert not _recoverable(tables, hidden)


def test_the_exact_check_finds_what_the_row_rule_would_miss() -> None:
    # Two tables share row totals: in each, hiding one row's total and cells is safe on its
    # own; together the shared totals must still leave every hidden entry free.
    tables, values = _publication(
        {"a": [[1, 50, 60], [2, 70, 80], [90, 95, 99]], "b": [[80, 2, 29], [150, 1, 1], [1, 283, 0]]}
    )
    hidden = suppress(tables, values, THRESHOLD)
    assert not _recoverable(tables, hidden)


grids = st.integers(min_value=1, max_value=4).flatmap(
    lambda rows: st.dictionaries(
        st.sampled_from(["q", "kind", "age"]),
        st.integers(min_value=1, max_value=4).flatmap(
            lambda cols: st.lists(
                st.lists(
                    st.one_of(st.integers(0, 6), st.integers(0, 60)), min_size=cols, max_size=cols
                ),
                min_size=rows,
                max_size=rows,
            )
        ),
        min_size=1,
        max_size=3,
    )
)


@settings(max_examples=150, deadline=None)
@given(grids)
def test_no_published_table_lets_a_hidden_entry_be_recovered(
    counts: dict[str, list[list[int]]],
) -> None:
    tables, values = _publication(counts)
    hidden = suppress(tables, values, THRESHOLD)
    shown = {e: v for e, v in values.items() if e not in hidden}
    assert all(v >= THRESHOLD for v in shown.values())  # every shown count reaches it
    assert not _differencing(tables, hidden)  # no line gives away its one hidden entry
    assert not _recoverable(tables, hidden)  # nor does any combination of the equations
