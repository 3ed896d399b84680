"""Revision 0008: the cases' (network, state, deadline, id) index goes in, and comes out
again on downgrade, leaving 0007's index as it was."""

from sqlalchemy import Engine

from referral.db.migrate import drift, upgrade
from tests.conftest import downgrade, index_columns


def _case_indexes(engine: Engine) -> dict[str, list[str]]:
    return index_columns(engine, "cases")


def test_0008_up_down_and_up_again(migrated_engine: Engine) -> None:
    wide = ["network_id", "state", "due_at", "id"]
    assert _case_indexes(migrated_engine)["ix_cases_network_state_due_id"] == wide
    assert "ix_cases_network_state_due" not in _case_indexes(migrated_engine)

    downgrade(migrated_engine, "0007")
    before = _case_indexes(migrated_engine)
    assert before["ix_cases_network_state_due"] == ["network_id", "state", "due_at"]
    assert "ix_cases_network_state_due_id" not in before

    upgrade(migrated_engine)
    assert _case_indexes(migrated_engine)["ix_cases_network_state_due_id"] == wide
    assert drift(migrated_engine) == []
