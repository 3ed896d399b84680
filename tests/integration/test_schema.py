"""The migrations build the schema the models describe, on this backend."""

from sqlalchemy import Engine

from referral.db.migrate import drift


def test_models_and_migrations_do_not_drift(migrated_engine: Engine) -> None:
    assert drift(migrated_engine) == []
