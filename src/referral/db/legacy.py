"""Seal personal fields that were written in clear before migration 0004.

Migration 0004 turns every sealed column into TEXT but cannot encrypt: migrations do
not see the master key. `referral db upgrade` therefore runs this right after the
migrations: each subject without a data key gets one, and every value not yet sealed is
sealed with its subject's key, in one transaction. On a database with nothing in clear it
reads a few empty result sets and changes nothing.
"""

import json
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Connection,
    Engine,
    Table,
    Text,
    and_,
    func,
    literal_column,
    or_,
    select,
    update,
)

from referral.db.base import Base
from referral.db.sealing import TOKEN_PREFIX, DataKeys, Kind, sealed_columns
from referral.db.tables import Case, Intervention, ProgressNote, Subject, WebhookEndpoint
from referral.domain.errors import ConfigurationError
from referral.keyring import Keyring, webhook_secret_context

TRUE_WORDS = frozenset({"1", "true", "t", "yes"})


def _clear_value(kind: Kind, stored: str) -> Any:
    """A pre-0004 value, as the type change left it in TEXT, back to its Python value."""
    if kind is Kind.TEXT:
        return stored
    if kind is Kind.DATE:
        return date.fromisoformat(stored[:10])
    if kind is Kind.BOOL:
        return stored.strip().lower() in TRUE_WORDS
    return json.loads(stored)


def _owner_key(model: type[Base]) -> Any:
    """A SQL expression for the data key of each row's subject, and the joins it needs."""
    if model is Subject:
        return Subject.data_key_id, []
    to_subject = (Subject, Subject.id == Case.subject_id)
    if model is Case:
        return Subject.data_key_id, [to_subject]
    if model is ProgressNote:
        return Subject.data_key_id, [
            (Intervention, Intervention.id == ProgressNote.intervention_id),
            (Case, Case.id == Intervention.case_id),
            to_subject,
        ]
    case_id = model.__table__.c.case_id
    return Subject.data_key_id, [(Case, Case.id == case_id), to_subject]


def _sealed_models() -> list[type[Base]]:
    return [
        mapper.class_
        for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__name__)
        if sealed_columns(mapper.class_)
    ]


def _raw(table: Table, name: str) -> ColumnClause[str]:
    """The column as stored: compared as plain TEXT, which the sealed type refuses to do."""
    return literal_column(f"{table.name}.{table.c[name].name}", type_=Text())


def _in_clear(column: ColumnClause[str]) -> ColumnElement[bool]:
    return and_(column.is_not(None), column.not_like(f"{TOKEN_PREFIX}%"))


def clear_field_count(connection: Connection) -> int:
    """How many personal values are still in clear (0 once everything is sealed)."""
    total = 0
    for model in _sealed_models():
        table: Table = model.__table__  # type: ignore[assignment]
        for name in sealed_columns(model):
            count = select(func.count()).select_from(table).where(_in_clear(_raw(table, name)))
            total += connection.execute(count).scalar_one()
    return total


def seal_clear_fields(engine: Engine, keyring: Keyring) -> int:
    """Seal every personal value still in clear; returns how many were sealed."""
    with engine.begin() as connection:
        clear = clear_field_count(connection)
        if clear == 0 and not _subjects_without_keys(connection):
            return 0
        if not keyring.configured:
            raise ConfigurationError(
                "{clear} personal fields are stored in clear from before encryption; set "
                "REFERRAL_MASTER_KEYS and run `referral db upgrade` again to seal them",
                clear=clear,
            )
        keys = DataKeys(keyring)
        for subject_id in _subjects_without_keys(connection):
            connection.execute(
                update(Subject)
                .where(Subject.id == subject_id)
                .values(data_key_id=keys.create(connection))
            )
        for model in _sealed_models():
            _seal_table(connection, keys, model)
        return clear


def _subjects_without_keys(connection: Connection) -> list[int]:
    return list(connection.scalars(select(Subject.id).where(Subject.data_key_id.is_(None))))


def _seal_table(connection: Connection, keys: DataKeys, model: type[Base]) -> None:
    table: Table = model.__table__  # type: ignore[assignment]
    columns = sealed_columns(model)
    raw = {name: _raw(table, name) for name in columns}
    owner, joins = _owner_key(model)
    query = select(table.c.id, owner.label("key_id"), *(raw[n].label(n) for n in columns))
    source: Any = table
    for joined, on in joins:
        source = source.join(joined, on)
    unsealed = or_(*(_in_clear(column) for column in raw.values()))
    for row in connection.execute(query.select_from(source).where(unsealed)).all():
        values = {
            name: keys.seal(connection, row.key_id, kind, _clear_value(kind, stored))
            for name, kind in columns.items()
            if (stored := getattr(row, name)) is not None and not stored.startswith(TOKEN_PREFIX)
        }
        connection.execute(update(table).where(table.c.id == row.id).values(**values))


def seal_webhook_secrets(connection: Connection, keyring: Keyring) -> int:
    """Seal the webhook signing secrets stored in clear before migration 0023 and empty
    the clear column, in the caller's transaction; returns how many. Nothing to do: one
    query."""
    endpoints: Table = WebhookEndpoint.__table__  # type: ignore[assignment]
    clear = connection.execute(
        select(endpoints.c.id, endpoints.c.secret).where(endpoints.c.secret.is_not(None))
    ).all()
    if not clear:
        return 0
    if not keyring.configured:
        raise ConfigurationError(
            "{count} webhook secrets are stored in clear from before migration 0023; set "
            "REFERRAL_MASTER_KEYS and run `referral db upgrade` again to seal them",
            count=len(clear),
        )
    for endpoint_id, secret in clear:
        sealed = keyring.wrap(secret.encode(), context=webhook_secret_context(endpoint_id))
        connection.execute(
            update(endpoints)
            .where(endpoints.c.id == endpoint_id)
            .values(sealed_secret=sealed, master_key_id=keyring.current_id, secret=None)
        )
    return len(clear)
