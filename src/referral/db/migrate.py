"""Apply and inspect the Alembic history in migrations/."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from referral.config import PROJECT_ROOT
from referral.db import tables  # noqa: F401  (registers every table on the metadata)
from referral.db.base import Base
from referral.domain.errors import ConfigurationError


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        driver = connection.connection.driver_connection
        if sqlite:
            # SQLite alters a table by copying it and dropping the original, which foreign
            # keys from other tables forbid. The pragma only works outside a transaction;
            # the keys are checked in full before the migration commits.
            driver.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise ConfigurationError(
                            "migration left {count} broken references, first in table {table}; "
                            "nothing was changed",
                            count=len(broken),
                            table=broken[0][0],
                        )
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def drift(engine: Engine) -> list[object]:
    """Differences between the models and the migrated schema (empty when in step)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def behind_head(engine: Engine) -> str | None:
    """The database's revision when migrations remain to apply to it (None: at head)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return None if current == head else current or "none"
