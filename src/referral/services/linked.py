"""Linked records of a case (requests, consents, deliberation, support), shown only by
the category that governs them. They are reached through their case, which the caller
found through the scope: each query here names the case it hangs off.

They are read as plain rows of the columns shown (sealed ones opened), not as mapped
objects: a case page lists them and changes none.
"""

from collections import defaultdict
from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.sql.elements import BindParameter

from referral.db.base import AnySelect
from referral.db.tables import (
    Consent,
    ConsentScopeRow,
    Contribution,
    Decision,
    InformationRequest,
    Intervention,
    ProgressNote,
    Review,
)
from referral.domain.vocabulary import Category
from referral.services.scope import Scope, prepared_select

Row = dict[str, Any]


# What each list shows of a record, besides its id.
REQUEST_FIELDS = ("organisation_id", "state", "question", "answer", "due_at")
CONSENT_FIELDS = ("state", "given_by", "method", "decided_at", "withdrawn_at")
CONTRIBUTION_FIELDS = ("meeting_id", "organisation_id", "body")
DECISION_FIELDS = ("meeting_id", "outcome", "rationale", "dissent")
INTERVENTION_FIELDS = ("kind", "provider_org_id", "state", "plan")
REVIEW_FIELDS = ("kind", "notes", "recorded_at")

CASE: BindParameter[int] = bindparam("case_id")


@cache
def _by_case_query(model: Any, names: tuple[str, ...]) -> AnySelect:
    """The case's rows of `model`, oldest first: their id and the named columns (built
    once per process; the case is bound at execution)."""
    columns = [model.id, *(getattr(model, name) for name in names)]
    return prepared_select(*columns).where(model.case_id == CASE).order_by(model.id)


def _by_case(scope: Scope, model: Any, case_id: int, names: tuple[str, ...]) -> list[Row]:
    return scope.rows(model, _by_case_query(model, names), case_id=case_id)


@cache
def _grants_query() -> AnySelect:
    """The scope rows of every consent of a case, as `category -> org_kind (purpose)`."""
    return (
        prepared_select(
            ConsentScopeRow.consent_id,
            ConsentScopeRow.category,
            ConsentScopeRow.org_kind,
            ConsentScopeRow.purpose,
        )
        .join(Consent, Consent.id == ConsentScopeRow.consent_id)
        .where(Consent.case_id == CASE)
    )


@cache
def _notes_query() -> AnySelect:
    """The progress notes on every intervention of a case, oldest first."""
    notes = prepared_select(
        ProgressNote.id, ProgressNote.intervention_id, ProgressNote.body, ProgressNote.created_at
    )
    notes = notes.join(Intervention, Intervention.id == ProgressNote.intervention_id)
    return notes.where(Intervention.case_id == CASE).order_by(ProgressNote.id)


def _requests(scope: Scope, case_id: int) -> list[Row]:
    return _by_case(scope, InformationRequest, case_id, REQUEST_FIELDS)


def _consents(scope: Scope, case_id: int) -> list[Row]:
    rows = _by_case(scope, Consent, case_id, CONSENT_FIELDS)
    grants: dict[int, list[str]] = defaultdict(list)
    if rows:
        for grant in scope.rows(ConsentScopeRow, _grants_query(), case_id=case_id):
            grants[grant["consent_id"]].append(
                f"{grant['category']} -> {grant['org_kind']} ({grant['purpose']})"
            )
    for row in rows:
        row["scope"] = sorted(grants[row["id"]])
    return rows


def _deliberation(scope: Scope, case_id: int) -> dict[str, list[Row]]:
    return {
        "contributions": _by_case(scope, Contribution, case_id, CONTRIBUTION_FIELDS),
        "decisions": _by_case(scope, Decision, case_id, DECISION_FIELDS),
    }


def _support(scope: Scope, case_id: int) -> dict[str, list[Row]]:
    return {
        "interventions": _by_case(scope, Intervention, case_id, INTERVENTION_FIELDS),
        "progress_notes": scope.rows(ProgressNote, _notes_query(), case_id=case_id),
        "reviews": _by_case(scope, Review, case_id, REVIEW_FIELDS),
    }


SECTIONS: dict[Category, Callable[[Scope, int], dict[str, list[Row]]]] = {
    Category.ASSESSMENT: lambda scope, case_id: {"information_requests": _requests(scope, case_id)},
    Category.CONSENT: lambda scope, case_id: {"consents": _consents(scope, case_id)},
    Category.DELIBERATION: _deliberation,
    Category.SUPPORT: _support,
}


def linked_records(scope: Scope, case_id: int, readable: set[Category]) -> dict[str, list[Row]]:
    records: dict[str, list[Row]] = {}
    for category, load in SECTIONS.items():
        if category in readable:
            records.update(load(scope, case_id))
    return records
