"""Revision 0008: the cases' (network, state, deadline, id) index goes in, and comes out
again on downgrade, leaving 0007's index as it was."""

from alembic import command
from sqlalchemy import Engine, inspect

from referral.db.migrate import alembic_config, drift, upgrade


def _case_indexes(engine: Engine) -> dict[str, list[str]]:
    return {
        str(ix["name"]): [str(c) for c in ix["column_names"]]
        for ix in inspect(engine).get_indexes("cases")
    }


def _downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.connect() as connection, connection.begin():
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_0008_up_down_and_up_again(migrated_engine: Engine) -> None:
    wide = ["network_id", "state", "due_at", "id"]
    assert _case_indexes(migrated_engine)["ix_cases_network_state_due_id"] == wide
    assert "ix_cases_network_state_due" not in _case_indexes(migrated_engine)

    _downgrade(migrated_engine, "0007")
    before = _case_indexes(migrated_engine)
    assert before["ix_cases_network_state_due"] == ["network_id", "state", "due_at"]
    assert "ix_cases_network_state_due_id" not in before

    upgrade(migrated_engine)
    assert _case_indexes(migrated_engine)["ix_cases_network_state_due_id"] == wide
    assert drift(migrated_engine) == []
