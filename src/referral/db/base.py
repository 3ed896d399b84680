"""Declarative base and column helpers shared by every table."""

from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import Connection, DateTime, MetaData, Select, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column

from referral.domain.vocabulary import Category

# A select of any columns: how the statements built once per process are typed.
AnySelect: TypeAlias = Select[*tuple[Any, ...]]

# Named constraints keep Alembic autogenerate stable across SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def personal(category: Category, *args: Any, **kwargs: Any) -> Any:
    """A column holding case data, tagged with the data category it belongs to."""
    info = dict(kwargs.pop("info", {}))
    info["category"] = category
    return mapped_column(*args, info=info, **kwargs)


def utcnow() -> datetime:
    return datetime.now(UTC)


# Session.info key: the connection a reading unit works on, its transaction begun and
# ended by the unit itself (db.engine.LoopReader), not by the session.
READER_INFO = "referral_reader"


def reading_connection(session: Session) -> Connection | None:
    """A loop reader's connection, if the session's unit works on one; else None."""
    found = session.info.get(READER_INFO)
    return found if isinstance(found, Connection) else None
