"""Personal fields sealed with their subject's data key (AES-GCM), in one place.

Services and templates see plain Python values; only the database holds sealed tokens.
Sealing happens in the ORM's flush (`before_insert` / `before_update`), opening in its
load (`load` / `refresh`), so no service can forget either. The column type refuses a
value that was not sealed, so a personal field cannot reach the database in clear by a
path that bypasses the flush; and a sealed column cannot be compared in SQL, which is
right: nothing may be looked up by a person's name.

A token is `s1.<data key id>.<base64(nonce | ciphertext)>`, the key id bound into the
ciphertext. When a subject's data key is destroyed, their fields read as `erased`
(dates as nothing, lists as empty) and cannot be written again.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
from datetime import date
from enum import StrEnum
from functools import cache, lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Connection,
    Text,
    TypeDecorator,
    bindparam,
    event,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    Mapper,
    Session,
    attributes,
    mapped_column,
    object_session,
    undefer_group,
)
from sqlalchemy.orm.attributes import set_committed_value

from referral.db import prepared
from referral.db.base import AnySelect, reading_connection
from referral.domain.errors import ConfigurationError, Conflict
from referral.domain.vocabulary import Category
from referral.i18n import N_
from referral.keyring import NONCE_BYTES, Keyring

TOKEN_PREFIX = "s1."  # noqa: S105  (a format marker, not a secret)
ERASED_TEXT = "erased"
KEYS_INFO = "data_keys"
KEYRING_INFO = "keyring"
SEALED_GROUP = "sealed"
# Loader option for queries that read sealed fields of many rows: one query, not one per row.
WITH_SEALED = undefer_group(SEALED_GROUP)

ERASED_MESSAGE = N_("this person's data has been erased; nothing more can be recorded about them")


class Kind(StrEnum):
    TEXT = "text"
    DATE = "date"
    JSON = "json"
    BOOL = "bool"


def _encode(kind: Kind, value: Any) -> bytes:
    if kind is Kind.TEXT:
        return str(value).encode()
    if kind is Kind.DATE:
        return value.isoformat().encode()  # type: ignore[no-any-return]
    return json.dumps(value, separators=(",", ":")).encode()


def _decode(kind: Kind, data: bytes) -> Any:
    text = data.decode()
    if kind is Kind.TEXT:
        return text
    if kind is Kind.DATE:
        return date.fromisoformat(text)
    return json.loads(text)


def erased_value(kind: Kind) -> Any:
    return {Kind.TEXT: ERASED_TEXT, Kind.DATE: None, Kind.JSON: [], Kind.BOOL: False}[kind]


class SealedToken(str):
    """A sealed value on its way to the database; it remembers the value it seals."""

    __slots__ = ("plain",)
    plain: Any


class Sealed(TypeDecorator[Any]):
    """TEXT holding a sealed token. Binding anything but a token is a programming error."""

    impl = Text
    cache_ok = True

    def __init__(self, kind: Kind) -> None:
        super().__init__()
        self.kind = kind

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, SealedToken):
            return value
        raise TypeError(
            "a personal field reached the database unsealed (or was used in a SQL comparison); "
            "write it through the ORM, which seals it"
        )


def sealed(
    category: Category | None, kind: Kind, *, default: Any = "", nullable: bool = False
) -> Any:
    """A column sealed with the subject's data key. `default` fills fields left unset.

    `category` tags case data with its data category; records about a case that are not
    case data (a break-glass justification) are sealed without one.
    """
    info: dict[str, Any] = {"sealed_default": default}
    if category is not None:
        info["category"] = category
    # Deferred: a list of cases loads no personal data, so opens none; the first read of
    # one sealed field loads (and opens) the row's whole group in one query. Queries that
    # read them for many rows say `undefer_group(SEALED_GROUP)`.
    return mapped_column(
        Sealed(kind), nullable=nullable, info=info, deferred=True, deferred_group=SEALED_GROUP
    )


_SEALED_BY_MAPPER: dict[Mapper[Any], dict[str, Kind]] = {}


def _sealed_columns(mapper: Mapper[Any]) -> dict[str, Kind]:
    found = _SEALED_BY_MAPPER.get(mapper)
    if found is None:
        found = _SEALED_BY_MAPPER[mapper] = {
            attr.key: attr.columns[0].type.kind
            for attr in mapper.column_attrs
            if isinstance(attr.columns[0].type, Sealed)
        }
    return found


_SEALED_BY_MODEL: dict[type[Any], dict[str, Kind]] = {}


def sealed_columns(model: type[Any]) -> dict[str, Kind]:
    """Attribute name -> kind of every sealed column of a mapped class (kept per class:
    every read of linked records asks it of each kind of record)."""
    found = _SEALED_BY_MODEL.get(model)
    if found is None:
        found = _SEALED_BY_MODEL[model] = _sealed_columns(inspect(model))
    return found


class DataKeys:
    """One session's view of the data keys: opened keys cached, owners looked up once.

    The cache lives only as long as the session (one unit of work) and is dropped on
    rollback, so a key destroyed elsewhere is never used from memory for long, and a key
    created in a rolled-back transaction is never mistaken for a later one.
    """

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._opened: dict[int, AESGCM | None] = {}
        self._raw: dict[int, bytes] = {}
        self._case_keys: dict[int, int] = {}
        self._wrapped: dict[int, tuple[bytes | None, str]] = {}

    def forget(self) -> None:
        self._opened.clear()
        self._raw.clear()
        self._case_keys.clear()
        self._wrapped.clear()

    def remember(
        self, case_id: int, key_id: int | None, wrapped: bytes | None, master_key_id: str | None
    ) -> None:
        """Keep what a caller's own query read of a case's key, so it is not read again.

        Unwrapped only when a field or digest needs it, as a key read here would be.
        """
        if key_id is None or master_key_id is None:
            return
        self._case_keys.setdefault(case_id, key_id)
        self._wrapped.setdefault(key_id, (wrapped, master_key_id))

    # -- keys -----------------------------------------------------------------------------

    def create(self, connection: Connection) -> int:
        from referral.db.tables import DataKey

        key, wrapped, master_id = self.keyring.new_data_key()
        key_id = connection.execute(
            insert(DataKey).values(wrapped=wrapped, master_key_id=master_id).returning(DataKey.id)
        ).scalar_one()
        self._opened[key_id] = AESGCM(key)
        self._raw[key_id] = key
        return int(key_id)

    def _load(self, connection: Connection, key_id: int) -> AESGCM | None:
        if key_id not in self._opened:
            row = self._wrapped.pop(key_id, None) or next(
                iter(prepared.run(connection, _wrapped_key_query(), {"key_id": key_id})), None
            )
            if row is None or row[0] is None:
                self._opened[key_id] = None
            else:
                raw = self.keyring.unwrap(row[0], row[1])
                self._raw[key_id] = raw
                self._opened[key_id] = AESGCM(raw)
        return self._opened[key_id]

    def destroyed(self, key_id: int) -> None:
        """Note that this session destroyed the key: its fields read as erased from now on."""
        self._opened[key_id] = None
        self._raw.pop(key_id, None)

    def case_key_id(self, connection: Connection, case_id: int) -> int:
        if case_id not in self._case_keys:
            found = prepared.run(connection, _case_key_query(), {"case_id": case_id})
            key_id = found[0][0] if found else None
            if key_id is None:
                raise ConfigurationError(
                    "case {case} has no data key; run `referral db upgrade` to seal old rows",
                    case=case_id,
                )
            self._case_keys[case_id] = int(key_id)
        return self._case_keys[case_id]

    def digest_key(self, connection: Connection, case_id: int) -> bytes | None:
        """A key for the audit digests of changes to this case, from its subject's key.

        Keyed digests cannot be reversed by guessing names; once the key is destroyed
        nobody can link a digest to a person any more.
        """
        try:
            key_id = self.case_key_id(connection, case_id)
        except ConfigurationError:
            return None  # an unknown case (a refused guess at an id): nothing personal to key
        if self._load(connection, key_id) is None:
            return None
        return hmac.new(self._raw[key_id], b"referral audit digest", hashlib.sha256).digest()

    # -- values ---------------------------------------------------------------------------

    def seal(self, connection: Connection, key_id: int, kind: Kind, value: Any) -> SealedToken:
        aead = self._load(connection, key_id)
        if aead is None:
            raise Conflict(ERASED_MESSAGE)
        nonce = os.urandom(NONCE_BYTES)
        sealed_bytes = aead.encrypt(nonce, _encode(kind, value), _aad(key_id))
        token = SealedToken(
            f"{TOKEN_PREFIX}{key_id}.{base64.b64encode(nonce + sealed_bytes).decode()}"
        )
        token.plain = value
        return token

    def open(self, connection: Connection, kind: Kind, token: str) -> Any:
        key_id, blob = parse_token(token)
        aead = self._load(connection, key_id)
        if aead is None:
            return erased_value(kind)
        try:
            plain = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(key_id))
        except InvalidTag as exc:
            raise ConfigurationError(
                "a field sealed with data key {key} does not open: it was altered", key=key_id
            ) from exc
        return _decode(kind, plain)


@lru_cache(maxsize=4096)  # one per data key in use: bounded, as subjects are not
def _aad(key_id: int) -> bytes:
    return f"referral field {key_id}".encode()


def parse_token(token: str) -> tuple[int, bytes]:
    if not token.startswith(TOKEN_PREFIX):
        raise ConfigurationError(
            "the database holds a personal field in clear; run `referral db upgrade` to seal it"
        )
    key_part, _, body = token[len(TOKEN_PREFIX) :].partition(".")
    return int(key_part), binascii.a2b_base64(body)


def token_key_id(token: str) -> int:
    return parse_token(token)[0]


@cache
def _wrapped_key_query() -> AnySelect:
    """A data key as stored (wrapped), built once: every request that opens a field asks."""
    from referral.db.tables import DataKey

    return select(DataKey.wrapped, DataKey.master_key_id).where(DataKey.id == bindparam("key_id"))


@cache
def _case_key_query() -> AnySelect:
    """The data key of a case's subject, built once."""
    from referral.db.tables import Case, Subject

    return (
        select(Subject.data_key_id)
        .join(Case, Case.subject_id == Subject.id)
        .where(Case.id == bindparam("case_id"))
    )


def data_keys(session: Session) -> DataKeys:
    keys: DataKeys | None = session.info.get(KEYS_INFO)
    if keys is None:
        keyring = session.info.get(KEYRING_INFO)
        if not isinstance(keyring, Keyring):
            raise ConfigurationError(
                "this database session has no keyring; build sessions with "
                "make_session_factory(engine, keyring)"
            )
        keys = session.info[KEYS_INFO] = DataKeys(keyring)
    return keys


# -- the ORM events ----------------------------------------------------------------------


def _owner_key_id(keys: DataKeys, connection: Connection, target: Any) -> int:
    """The data key of the subject a row belongs to (created with the subject)."""
    from referral.db.tables import Case, ProgressNote, Subject

    if isinstance(target, Subject):
        if target.data_key_id is None:
            target.data_key_id = keys.create(connection)
        return target.data_key_id
    if isinstance(target, Case):
        key_id = connection.execute(
            select(Subject.data_key_id).where(Subject.id == target.subject_id)
        ).scalar_one()
        if key_id is None:
            raise ConfigurationError("a subject has no data key; run `referral db upgrade`")
        return int(key_id)
    if isinstance(target, ProgressNote):
        from referral.db.tables import Intervention

        case_id = connection.execute(
            select(Intervention.case_id).where(Intervention.id == target.intervention_id)
        ).scalar_one()
        return keys.case_key_id(connection, case_id)
    return keys.case_key_id(connection, target.case_id)


def _seal_changes(mapper: Mapper[Any], connection: Connection, target: Any, *, new: bool) -> None:
    columns = _sealed_columns(mapper)
    if not columns:
        return
    session = object_session(target)
    assert session is not None
    keys = data_keys(session)
    key_id: int | None = None
    state = attributes.instance_state(target)
    for name, kind in columns.items():
        if new:
            if name not in state.dict:
                default = mapper.columns[name].info["sealed_default"]
                setattr(target, name, default() if callable(default) else default)
        elif name not in state.dict or not attributes.get_history(target, name).has_changes():
            continue  # unloaded (deferred) cannot have changed: do not load it to ask
        value = getattr(target, name)
        if value is None or isinstance(value, SealedToken):
            continue
        if key_id is None:
            key_id = _owner_key_id(keys, connection, target)
        setattr(target, name, keys.seal(connection, key_id, kind, value))


def _restore_plain(mapper: Mapper[Any], target: Any) -> None:
    state = attributes.instance_state(target)
    for name in _sealed_columns(mapper):
        value = state.dict.get(name)
        if isinstance(value, SealedToken):
            set_committed_value(target, name, value.plain)


def open_columns(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Open, in place, the sealed values of plain rows selected column by column from
    `model`'s table: what the load event does for mapped objects, for a read that needs
    no objects (lists of linked records: a fraction of the ORM's cost per row)."""
    if not rows:
        return
    columns = sealed_columns(model)
    named = [(name, kind) for name, kind in columns.items() if name in rows[0]]
    if not named:
        return
    keys = data_keys(session)
    connection = reading_connection(session) or session.connection()
    for row in rows:
        for name, kind in named:
            value = row[name]
            if isinstance(value, str) and not isinstance(value, SealedToken):
                row[name] = keys.open(connection, kind, value)


def _open_loaded(target: Any, session: Session | None, names: Any = None) -> None:
    columns = _sealed_columns(attributes.instance_state(target).mapper)
    if not columns or session is None:
        return
    loaded = attributes.instance_state(target).dict
    tokens = [
        (name, kind, value)
        for name, kind in columns.items()
        if (names is None or name in names)
        and isinstance(value := loaded.get(name), str)
        and not isinstance(value, SealedToken)
    ]
    if not tokens:
        return  # the sealed group was not loaded: nothing to open
    keys = data_keys(session)
    connection = session.connection()
    for name, kind, value in tokens:
        set_committed_value(target, name, keys.open(connection, kind, value))


def install(base: type[Any]) -> None:
    """Register the sealing events on every mapped class below `base`."""

    @event.listens_for(base, "before_insert", propagate=True)
    def _before_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
        _seal_changes(mapper, connection, target, new=True)

    @event.listens_for(base, "before_update", propagate=True)
    def _before_update(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
        _seal_changes(mapper, connection, target, new=False)

    @event.listens_for(base, "after_insert", propagate=True)
    def _after_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
        _restore_plain(mapper, target)

    @event.listens_for(base, "after_update", propagate=True)
    def _after_update(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
        _restore_plain(mapper, target)

    @event.listens_for(base, "load", propagate=True)
    def _on_load(target: Any, context: Any) -> None:
        _open_loaded(target, context.session)

    @event.listens_for(base, "refresh", propagate=True)
    def _on_refresh(target: Any, context: Any, names: Any) -> None:
        _open_loaded(target, context.session, names)


@event.listens_for(Session, "after_soft_rollback")
def _forget_keys(session: Session, previous_transaction: Any) -> None:
    keys: DataKeys | None = session.info.get(KEYS_INFO)
    if keys is not None:
        keys.forget()
