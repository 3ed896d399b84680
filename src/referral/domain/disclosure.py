"""Small-cell suppression for published tables of counts (pure: no database).

A publication is a set of two-way tables, each printed with its row totals, column
totals and grand total. Totals that mean the same count in several tables (the referrals
of a network, say, are the row total of every `network x ...` table) are one *entry*, so
suppressing it hides it everywhere at once.

Primary suppression hides every entry below the threshold (zeros included: "every
published count is at least the threshold or hidden"). Secondary suppression then hides
more entries until no hidden entry is determined by the published ones through the
tables' additive equations (each row and column of a table sums to its total, the totals
to the grand total). Two steps, repeated until nothing changes:

1. Per table, as a graph: rows and the totals column on one side, columns and the totals
   row on the other, one edge per entry of the table. Under the equations, a hidden entry
   can move (is not determined) exactly when its edge lies on a cycle of hidden edges; a
   hidden edge that is a bridge is determined. So while a hidden bridge exists, hide the
   smallest published entry that closes a cycle through it (the classic "each row and
   column with one hidden cell hides its next smallest", made exact).
2. Across tables, exactly: the equations of all tables together, restricted to the hidden
   entries, reduced exactly (integers); an entry is determined when its unit vector lies
   in the span of the equations. Shared totals couple the tables, so this catches what the
   per-table step cannot see; any determined entry has a published neighbour hidden.

The result hides at least every entry below the threshold, and no hidden entry is fixed
by the linear equations of what is published. (Bounds from counts being non-negative can
narrow a hidden entry to a range; that is the usual, accepted residue of this method.)
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# An entry: ("cell", table, row, column), or a total's own key, e.g. ("total", "network", "n1").
Entry = tuple[str, ...]

_ROWS_TOTAL = "__row_total__"  # the totals column's node (the side rows' totals hang off)
_COLUMNS_TOTAL = "__column_total__"


@dataclass(frozen=True)
class Table:
    """A two-way table. `row_totals`, `column_totals` and `grand_total` name the entries of
    its margins: tables whose margins mean the same counts give them the same names."""

    name: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    row_totals: str
    column_totals: str
    grand_total: str

    def cell(self, row: str, column: str) -> Entry:
        return ("cell", self.name, row, column)

    def row_total(self, row: str) -> Entry:
        return ("total", self.row_totals, row)

    def column_total(self, column: str) -> Entry:
        return ("total", self.column_totals, column)

    @property
    def total(self) -> Entry:
        return ("total", self.grand_total)

    def edges(self) -> Iterable[tuple[str, str, Entry]]:
        """(row side node, column side node, entry): the table as a bipartite graph."""
        for row in self.rows:
            for column in self.columns:
                yield ("r:" + row, "c:" + column, self.cell(row, column))
            yield ("r:" + row, _ROWS_TOTAL, self.row_total(row))
        for column in self.columns:
            yield (_COLUMNS_TOTAL, "c:" + column, self.column_total(column))
        yield (_COLUMNS_TOTAL, _ROWS_TOTAL, self.total)

    def equations(self) -> Iterable[dict[Entry, int]]:
        """Each node of the graph: its entries sum to zero, the total's sign reversed."""
        for row in self.rows:
            yield {**{self.cell(row, c): 1 for c in self.columns}, self.row_total(row): -1}
        for column in self.columns:
            yield {**{self.cell(r, column): 1 for r in self.rows}, self.column_total(column): -1}
        yield {**{self.row_total(r): 1 for r in self.rows}, self.total: -1}
        yield {**{self.column_total(c): 1 for c in self.columns}, self.total: -1}


def suppress(tables: list[Table], values: Mapping[Entry, int], threshold: int) -> set[Entry]:
    """The entries to hide: every one below `threshold`, and enough others that none of
    them is determined by the published entries."""
    hidden = {entry for entry, value in values.items() if value < threshold}
    if not hidden:
        return hidden
    equations = [equation for table in tables for equation in table.equations()]
    while True:
        for table in tables:
            _close_cycles(table, values, hidden)
        determined = determined_entries(tables, hidden)
        if not determined:
            return hidden
        before = len(hidden)
        for entry in sorted(determined):
            _hide_a_neighbour(equations, values, hidden, entry)
        if len(hidden) == before:  # every neighbour hidden already: widen, or give up whole
            published = [e for e in values if e not in hidden]
            if not published:
                return hidden
            hidden.add(min(published, key=lambda e: (values[e], e)))


def determined_entries(tables: list[Table], hidden: set[Entry]) -> set[Entry]:
    """The hidden entries that the equations of all `tables` fix, given every published
    entry: those whose unit vector is in the span of the equations restricted to `hidden`.
    Exact: Gauss-Jordan elimination on sparse rows of integers (each row kept divided by
    the gcd of its coefficients, so they stay small), no floating point."""
    pivots: dict[Entry, dict[Entry, int]] = {}
    for table in tables:
        for equation in table.equations():
            row = {e: c for e, c in equation.items() if e in hidden}
            if row:
                _reduce_into(pivots, row)
    return {e for e, row in pivots.items() if len(row) == 1}


def _combine(row: dict[Entry, int], by: int, other: dict[Entry, int], times: int) -> None:
    """row := by * row - times * other, in place, then divided by its coefficients' gcd."""
    for e in list(row):
        row[e] *= by
    for e, c in other.items():
        value = row.get(e, 0) - times * c
        if value:
            row[e] = value
        else:
            row.pop(e, None)
    divisor = math.gcd(*row.values()) if row else 1
    if divisor > 1:
        for e in row:
            row[e] //= divisor


def _reduce_into(pivots: dict[Entry, dict[Entry, int]], row: dict[Entry, int]) -> None:
    """Add one equation to a reduced basis whose every row is zero at the others' pivots
    (so a row with a single entry left fixes that entry)."""
    for pivot in [e for e in row if e in pivots]:
        if row.get(pivot):
            basis = pivots[pivot]
            _combine(row, basis[pivot], basis, row[pivot])
    if not row:
        return
    pivot = min(row)
    for other in pivots.values():
        if other.get(pivot):
            _combine(other, row[pivot], row, other[pivot])
    pivots[pivot] = row


def _close_cycles(table: Table, values: Mapping[Entry, int], hidden: set[Entry]) -> None:
    """Hide entries of `table` until no hidden edge of its graph is a bridge."""
    edges = list(table.edges())
    at_node: dict[str, list[Entry]] = defaultdict(list)
    for a, b, e in edges:
        at_node[a].append(e)
        at_node[b].append(e)

    def cheapest(entries: Iterable[Entry]) -> Entry:
        return min(entries, key=lambda e: (values.get(e, 0), e[0] != "cell", e))

    while True:
        # A node with one hidden edge makes it a bridge: hide its next smallest, for every
        # such node in one sweep (most of the work, without a search for bridges).
        swept = False
        for entries in at_node.values():
            inside = [e for e in entries if e in hidden]
            if len(inside) == 1:
                outside = [e for e in entries if e not in hidden]
                if outside:
                    hidden.add(cheapest(outside))
                    swept = True
        if swept:
            continue
        bridge = _first_bridge([(a, b, e) for a, b, e in edges if e in hidden])
        if bridge is None:
            return
        a, b, entry = bridge
        rest = [(x, y, e) for x, y, e in edges if e in hidden and e != entry]
        side_a, side_b = _reachable(a, rest), _reachable(b, rest)
        # A published edge between the bridge's two sides closes a cycle through it.
        candidates = [
            e for x, y, e in edges if e not in hidden and ({x, y} & side_a) and ({x, y} & side_b)
        ]
        if not candidates:  # one side is a lone node: grow it by its smallest edge
            candidates = [
                e for x, y, e in edges if e not in hidden and ({x, y} & (side_a | side_b))
            ]
        if not candidates:
            candidates = [e for _, _, e in edges if e not in hidden]
        if not candidates:
            return
        hidden.add(cheapest(candidates))


def _first_bridge(edges: list[tuple[str, str, Entry]]) -> tuple[str, str, Entry] | None:
    """A bridge of the multigraph `edges`, if any (Tarjan's low-link, iterative)."""
    adjacent: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for i, (a, b, _) in enumerate(edges):
        adjacent[a].append((b, i))
        adjacent[b].append((a, i))
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    for root in adjacent:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack: list[tuple[str, int, int]] = [(root, -1, 0)]
        while stack:
            node, via, k = stack[-1]
            if k < len(adjacent[node]):
                stack[-1] = (node, via, k + 1)
                nxt, edge = adjacent[node][k]
                if edge == via:
                    continue
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, edge, 0))
                continue
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    return edges[via]
    return None


def _reachable(start: str, edges: list[tuple[str, str, Entry]]) -> set[str]:
    adjacent: dict[str, list[str]] = defaultdict(list)
    for a, b, _ in edges:
        adjacent[a].append(b)
        adjacent[b].append(a)
    seen, todo = {start}, [start]
    while todo:
        for nxt in adjacent[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _hide_a_neighbour(
    equations: list[dict[Entry, int]],
    values: Mapping[Entry, int],
    hidden: set[Entry],
    entry: Entry,
) -> None:
    """Hide the smallest published entry sharing an equation with `entry`."""
    neighbours = {
        e for equation in equations if entry in equation for e in equation if e not in hidden
    }
    if neighbours:
        hidden.add(min(neighbours, key=lambda e: (values.get(e, 0), e[0] != "cell", e)))
