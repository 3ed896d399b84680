"""Case references and finding cases: by reference for everyone, by name and date of
birth through a keyed blind index for those who may read identity.

The blind index (`search_tokens`) holds, per case, an HMAC of each name token, the date
of birth and each concern type, keyed with the deployment's search key and bound to the
network: a row says nothing without the key, and the same person in two networks gives
unrelated tokens. A search keys the words it is given the same way and matches tokens in
SQL, so it opens no subject; what it answers is status data only. It is written when a
referral is created and removed when the subject is erased.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from referral.db.sealing import ERASED_TEXT, WITH_SEALED, data_keys
from referral.db.tables import Case, CaseReference, Network, SearchToken
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput
from referral.domain.references import (
    format_reference,
    network_prefix,
    normal_reference,
    search_values,
)
from referral.domain.vocabulary import Category
from referral.i18n import N_
from referral.keyring import Keyring
from referral.services.access import record
from referral.services.uow import UnitOfWork

SEARCH_LIMIT = 50
MAX_QUERY = 200
REFERENCES = "case numbers run per network and year; the counter row is the network's own"
INDEX = "the blind index is written and erased with the subject, wherever it was found"
NOTHING_TO_FIND = "Enter a case reference, or a name (and, if you know it, a date of birth)."


def allocate_reference(uow: UnitOfWork, network_id: int, created: datetime) -> str:
    """The network's next reference for the year: one upsert on the network's counter row
    for that year, which holds it until commit, so two submissions never share a number."""
    session = uow.unscoped(REFERENCES)
    upsert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        upsert(CaseReference)
        .values(network_id=network_id, year=created.year, last=1)
        .on_conflict_do_update(
            index_elements=[CaseReference.network_id, CaseReference.year],
            set_={"last": CaseReference.last + 1},
        )
        .returning(CaseReference.last)
    )
    number = int(session.execute(statement).scalar_one())
    slug = session.scalar(select(Network.slug).where(Network.id == network_id)) or ""
    return format_reference(network_prefix(slug), created.year, number)


def _keyring(uow: UnitOfWork) -> Keyring:
    return data_keys(uow.unscoped(INDEX)).keyring


def _token(keyring: Keyring, network_id: int, value: str) -> str:
    return keyring.blind(f"{network_id}|{value}")


def concern_value(concern_type: str) -> str:
    return f"concern:{concern_type}"


def index_case(
    uow: UnitOfWork,
    case: Case,
    *,
    given_name: str,
    family_name: str,
    born: date | None,
    concern_types: list[str],
    replace: bool = True,
) -> None:
    """(Re)write the case's blind-index rows, in the caller's transaction: at submission
    (`replace=False`: a new case has none yet), and whenever the identity or concern
    types it indexes change."""
    keyring = _keyring(uow)
    session = uow.unscoped(INDEX)
    if replace:
        session.execute(delete(SearchToken).where(SearchToken.case_id == case.id))
    values = search_values(given_name, family_name, born)
    values |= {concern_value(kind) for kind in concern_types}
    rows = [
        {
            "network_id": case.network_id,
            "subject_id": case.subject_id,
            "case_id": case.id,
            "token": _token(keyring, case.network_id, value),
        }
        for value in sorted(values)
    ]
    if rows:
        session.execute(insert(SearchToken), rows)


REINDEX_BATCH = 200


def reindex(uow: UnitOfWork, *, rebuild: bool = False) -> int:
    """The operator's `referral search reindex`: index the cases that have no entries yet
    (those from before the index existed), opening each one's subject once; an erased
    subject has nothing to index. `rebuild`: drop every entry first (after a new search
    key). How many cases were indexed; the caller commits."""
    session = uow.unscoped("the operator's reindex runs across every network")
    if rebuild:
        session.execute(delete(SearchToken))
    indexed = 0
    after = 0
    while True:
        batch = session.scalars(
            select(Case)
            .where(Case.id > after, ~Case.id.in_(select(SearchToken.case_id)))
            .order_by(Case.id)
            .limit(REINDEX_BATCH)
            .options(WITH_SEALED)
        ).all()
        if not batch:
            return indexed
        for case in batch:
            after = case.id
            subject = case.subject
            if subject.given_name == ERASED_TEXT:
                continue
            index_case(
                uow,
                case,
                given_name=subject.given_name,
                family_name=subject.family_name,
                born=subject.date_of_birth,
                concern_types=case.concern_types,
            )
            indexed += 1
        uow.flush()


def forget_subject(uow: UnitOfWork, subject_id: int) -> None:
    """Erasure: the subject's blind-index rows go with their key."""
    uow.unscoped(INDEX).execute(delete(SearchToken).where(SearchToken.subject_id == subject_id))


def tokens_of(uow: UnitOfWork, network_id: int, values: set[str]) -> list[str]:
    keyring = _keyring(uow)
    return sorted(_token(keyring, network_id, value) for value in values)


@dataclass(frozen=True)
class SearchCases:
    text: str = ""
    born: date | None = None
    limit: int = SEARCH_LIMIT


@dataclass(frozen=True)
class Found:
    """A case a search found: status data only."""

    case_id: int
    reference: str
    state: str
    due_at: datetime | None
    submitted_at: datetime | None


@dataclass(frozen=True)
class SearchResult:
    rows: list[Found]
    by: str  # "reference", "name" or "" (nothing asked)
    more: bool = False


def search_cases(uow: UnitOfWork, actor: Actor, query: SearchCases) -> SearchResult:
    """Cases matching a reference (status read suffices) or a name and birth date (identity
    read needed: for anyone else the same question simply finds nothing)."""
    text = query.text.strip()
    if len(text) > MAX_QUERY:
        raise InvalidInput(
            "keep a search under {limit} characters",
            {"q": f"Keep a search under {MAX_QUERY} characters."},
            limit=MAX_QUERY,
        )
    if not 1 <= query.limit <= 200:
        raise InvalidInput("limit must be between 1 and 200", {"limit": N_("out of range")})
    scope = uow.scoped(actor)
    columns = (Case.id, Case.reference, Case.state, Case.due_at, Case.submitted_at)
    reference = normal_reference(text)
    if reference is not None:
        where = scope.case_filter(Category.STATUS, "read") & (Case.reference == reference)
        by = "reference"
    else:
        values = search_values(text, "", query.born)
        if not values:
            return SearchResult([], "")
        # Every value must match: a subquery of the cases holding all the tokens, found by
        # the (network, token) index; no subject is opened.
        tokens = tokens_of(uow, actor.network_id, values)
        matching = (
            select(SearchToken.case_id)
            .where(scope.where(SearchToken), SearchToken.token.in_(tokens))
            .group_by(SearchToken.case_id)
            .having(func.count(func.distinct(SearchToken.token)) == len(tokens))
        )
        where = scope.case_filter(Category.IDENTITY, "read") & Case.id.in_(matching)
        by = "name"
        decision = uow.authz.decide(actor, Category.IDENTITY, "read", None, uow.now)
        # The search itself is a question about a person: ledgered, without its words.
        uow.audit(record(actor, "case:search", decision, categories=(Category.IDENTITY,)))
    found = scope.execute(
        scope.select(*columns)
        .where(where)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(query.limit + 1)
    ).all()
    rows = [Found(r.id, r.reference, r.state, r.due_at, r.submitted_at) for r in found]
    uow.commit()
    return SearchResult(rows[: query.limit], by, more=len(rows) > query.limit)
