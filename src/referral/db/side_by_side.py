"""Differently shaped selects as one statement: a UNION ALL with the parts side by side.

Each row is the number of its part, then every part's columns in turn: its own part's
values in their places, typed NULLs (a CAST, so each column has one type) in the
others'. One statement where there were as many as parts: on PostgreSQL one round trip
instead of several, on SQLite one execution on the cursor (db.prepared) instead of
several. `apart` splits the rows back into their parts.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CompoundSelect, cast, literal_column, null, union_all

from referral.db.base import AnySelect


def side_by_side(*parts: AnySelect, shared: Sequence[str] = ()) -> CompoundSelect[Any]:
    """The parts as one UNION ALL (no order across rows: the caller orders it).

    `shared` names the leading columns every part has alike (an id to sort by, say):
    they come once, right after `part`, under these names, before the parts' own.
    """
    wide = [list(part.selected_columns)[len(shared) :] for part in parts]
    selects = []
    for index, part in enumerate(parts):
        row: list[Any] = [literal_column(str(index)).label("part")]
        leading = list(part.selected_columns)[: len(shared)]
        row += [column.label(name) for column, name in zip(leading, shared, strict=True)]
        for other, columns in enumerate(wide):
            for position, column in enumerate(columns):
                label = f"p{other}_{position}"
                if other == index:
                    row.append(column.label(label))
                else:
                    row.append(cast(null(), column.type).label(label))
        selects.append(part.with_only_columns(*row))
    return union_all(*selects)


def apart(rows: Sequence[Sequence[Any]], parts: Sequence[AnySelect]) -> list[list[tuple[Any, ...]]]:
    """The rows of `side_by_side(*parts)` (nothing shared) back in their parts, each row
    its own columns."""
    widths = [len(part.selected_columns) for part in parts]
    starts = [1 + sum(widths[:index]) for index in range(len(parts))]
    found: list[list[tuple[Any, ...]]] = [[] for _ in parts]
    for row in rows:
        index = int(row[0])
        start = starts[index]
        found[index].append(tuple(row[start : start + widths[index]]))
    return found
