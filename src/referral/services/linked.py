"""Linked records of a case (requests, consents, deliberation, support), shown only by
the category that governs them. They are reached through their case, which the caller
found through the scope: each query here names the case it hangs off."""

from collections.abc import Callable, Sequence
from typing import Any

from referral.db.base import Base
from referral.db.sealing import WITH_SEALED
from referral.db.tables import (
    Consent,
    Contribution,
    Decision,
    Intervention,
    ProgressNote,
    Review,
)
from referral.domain.vocabulary import Category
from referral.services.scope import Scope

Row = dict[str, Any]


def _rows(objects: Sequence[Base], *names: str) -> list[Row]:
    return [{name: getattr(obj, name) for name in ("id", *names)} for obj in objects]


def _requests(scope: Scope, case_id: int) -> list[Row]:
    requests = scope.repo.information_requests(case_id)
    return _rows(requests, "organisation_id", "state", "question", "answer", "due_at")


def _consents(scope: Scope, case_id: int) -> list[Row]:
    consents = scope.scalars(
        scope.select(Consent)
        .where(Consent.case_id == case_id)
        .order_by(Consent.id)
        .options(WITH_SEALED)
    ).all()
    rows = _rows(consents, "state", "given_by", "method", "decided_at", "withdrawn_at")
    for row, consent in zip(rows, consents, strict=True):
        row["scope"] = sorted(f"{s.category} -> {s.org_kind} ({s.purpose})" for s in consent.scopes)
    return rows


def _by_case(model: Any, case_id: int, scope: Scope) -> Sequence[Any]:
    return scope.scalars(
        scope.select(model).where(model.case_id == case_id).order_by(model.id).options(WITH_SEALED)
    ).all()


def _deliberation(scope: Scope, case_id: int) -> dict[str, list[Row]]:
    contributions = _by_case(Contribution, case_id, scope)
    decisions = _by_case(Decision, case_id, scope)
    return {
        "contributions": _rows(contributions, "meeting_id", "organisation_id", "body"),
        "decisions": _rows(decisions, "meeting_id", "outcome", "rationale", "dissent"),
    }


def _support(scope: Scope, case_id: int) -> dict[str, list[Row]]:
    interventions = scope.repo.interventions(case_id)
    notes = scope.scalars(
        scope.select(ProgressNote)
        .join(Intervention, Intervention.id == ProgressNote.intervention_id)
        .where(Intervention.case_id == case_id)
        .order_by(ProgressNote.id)
        .options(WITH_SEALED)
    ).all()
    return {
        "interventions": _rows(interventions, "kind", "provider_org_id", "state", "plan"),
        "progress_notes": _rows(notes, "intervention_id", "body", "created_at"),
        "reviews": _rows(_by_case(Review, case_id, scope), "kind", "notes", "recorded_at"),
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
