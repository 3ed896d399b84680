"""Revision 0010: a case's audit entries are indexed by (case, id), so the case page's
recent history reads the newest entries of the case from the index, on PostgreSQL too,
instead of every entry the case ever had, sorted."""

import pytest
from sqlalchemy import Engine, text

from referral.db import prepared
from referral.db.migrate import drift, upgrade
from referral.services.timeline import RECENT_WINDOW, _history_query
from tests.conftest import downgrade, index_columns


def _audit_indexes(engine: Engine) -> dict[str, list[str]]:
    return index_columns(engine, "audit_log")


def _recent_history_plan(engine: Engine) -> str:
    """The plan of the case page's history query, sequential scans discouraged on
    PostgreSQL: whether the index serves it, not what a planner picks for a few rows."""
    compiled = prepared._compile(_history_query(paged=False, everything=False), engine.dialect)
    assert compiled is not None
    values = {"case_id": 1, "network_id": 1, "viewer": 1, "window": RECENT_WINDOW, "limit": 26}
    parameters = compiled.parameters(values)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.sql}", parameters)
            return " | ".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET enable_bitmapscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled.sql}", parameters)
        return " | ".join(str(row[0]) for row in rows)


def test_the_newest_entries_of_a_case_come_from_the_index(migrated_engine: Engine) -> None:
    plan = _recent_history_plan(migrated_engine)
    if migrated_engine.dialect.name == "sqlite":
        assert "ix_audit_log_case (case_id=?)" in plan, plan
    else:
        assert "Backward using ix_audit_log_case" in plan, plan


def test_the_recent_window_is_read_before_the_viewers_own_reads_are_left_out(
    migrated_engine: Engine,
) -> None:
    """The window is read first, on its own: as `id IN (window)` PostgreSQL may walk the
    whole log backwards instead, testing every entry against the window."""
    plan = _recent_history_plan(migrated_engine)
    if migrated_engine.dialect.name == "sqlite":
        assert plan.startswith("CO-ROUTINE recent"), plan
    else:
        assert "Subquery Scan on recent" in plan, plan
        assert "SubPlan" not in plan and "Semi Join" not in plan, plan


def test_0010_up_down_and_up_again(migrated_engine: Engine) -> None:
    assert _audit_indexes(migrated_engine)["ix_audit_log_case"] == ["case_id", "id"]
    downgrade(migrated_engine, "0009")
    assert _audit_indexes(migrated_engine)["ix_audit_log_case"] == ["case_id"]
    upgrade(migrated_engine)
    assert _audit_indexes(migrated_engine)["ix_audit_log_case"] == ["case_id", "id"]
    assert drift(migrated_engine) == []


@pytest.mark.postgres
def test_a_case_history_is_planned_without_bitmap_scans(migrated_engine: Engine) -> None:
    """With statistics that lag a busy case, PostgreSQL would read all its entries with a
    bitmap scan and sort them (131 ms against 0.2 ms for 24,000 entries, docs/performance.md);
    `run_by_index` plans the statement without them, and only that statement."""
    asked = text("SELECT current_setting('enable_bitmapscan')")
    with migrated_engine.connect() as connection, connection.begin():
        assert prepared.run_by_index(connection, asked, {}) == [("off",)]
        assert prepared.run(connection, asked, {}) == [("on",)]


def test_the_history_read_by_index_answers_what_a_plain_read_answers(
    migrated_engine: Engine,
) -> None:
    query = _history_query(paged=False, everything=True)
    values = {"case_id": 1, "network_id": 1, "viewer": 1, "window": RECENT_WINDOW, "limit": 26}
    with migrated_engine.connect() as connection, connection.begin():
        plain = prepared.run(connection, query, values)
        by_index = prepared.run_by_index(connection, query, values)
        assert by_index == plain
        if migrated_engine.dialect.name == "postgresql":  # the setting ends with the read
            setting = connection.exec_driver_sql("SHOW enable_bitmapscan").scalar()
            assert setting == "on"
