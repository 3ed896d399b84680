"""Alembic environment: runs on a connection handed in by `referral.db.migrate`, or on the
configured database when called from the `alembic` command line."""

from alembic import context
from sqlalchemy import Connection

from referral.config import get_settings
from referral.db import tables  # noqa: F401  (registers every table on the metadata)
from referral.db.base import Base, UTCDateTime
from referral.db.engine import make_engine
from referral.db.sealing import Sealed

target_metadata = Base.metadata


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # Migrations must not import application code: write the plain column type.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, Sealed):
        return "sa.Text()"
    return False


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    engine = make_engine(get_settings().database_url)
    with engine.connect() as conn:
        run(conn)
    engine.dispose()


main()
