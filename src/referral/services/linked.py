"""Linked records of a case (requests, consents, deliberation, support), shown only by
the category that governs them. They are reached through their case, which the caller
found through the scope: each query here names the case it hangs off.

They are read as plain rows of the columns shown (sealed ones opened), not as mapped
objects: a case page lists them and changes none. Every list the viewer may read comes
back in one statement, a UNION ALL of one part per list (on PostgreSQL each statement
is a round trip): each part fills its own columns and leaves the others as typed NULLs,
so every column keeps its type, and the rows are split by part again here.

Interventions are governed by `support`, and asked about one by one: a viewer whose rule
judges the intervention (a provider's `assigned`) is shown only the interventions the
policy lets them read, asked about each, and only those interventions' progress notes.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import CompoundSelect, Select, bindparam
from sqlalchemy.sql.elements import BindParameter

from referral.audit import ledger
from referral.db.base import Base
from referral.db.side_by_side import side_by_side
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
from referral.domain import states
from referral.domain.facts import RecordFacts
from referral.domain.vocabulary import Category
from referral.i18n import Phrase
from referral.services.scope import Scope, prepared_select

Row = dict[str, Any]

# What each list shows of a record, besides its id.
REQUEST_FIELDS = ("organisation_id", "state", "question", "answer", "due_at")
CONSENT_FIELDS = ("state", "given_by", "method", "decided_at", "withdrawn_at")
CONTRIBUTION_FIELDS = ("meeting_id", "organisation_id", "body")
DECISION_FIELDS = ("meeting_id", "outcome", "rationale", "dissent")
INTERVENTION_FIELDS = ("kind", "provider_org_id", "state", "plan")
NOTE_FIELDS = ("intervention_id", "body", "created_at")
REVIEW_FIELDS = ("kind", "notes", "recorded_at")
GRANT_FIELDS = ("consent_id", "category", "org_kind", "purpose")

CASE: BindParameter[int] = bindparam("case_id")
GRANTS = "consent_grants"  # a part folded into each consent's "scope", not a list shown


@dataclass(frozen=True)
class _Part:
    """One list: its rows' model (whose sealed columns are opened) and the columns shown."""

    key: str
    model: type[Base]
    names: tuple[str, ...]

    def select(self) -> Select[Any]:
        """This list's rows of the case: its sort key (the id), then the named columns."""
        model: Any = self.model
        columns = [getattr(model, name) for name in self.names]
        if self.model is ProgressNote:
            joined = prepared_select(model.id, *columns).join(
                Intervention, Intervention.id == ProgressNote.intervention_id
            )
            return joined.where(Intervention.case_id == CASE)
        if self.model is ConsentScopeRow:
            joined = prepared_select(model.id, *columns).join(
                Consent, Consent.id == ConsentScopeRow.consent_id
            )
            return joined.where(Consent.case_id == CASE)
        return prepared_select(model.id, *columns).where(model.case_id == CASE)


# By governing category, in the order the case page shows them.
PARTS: dict[Category, tuple[_Part, ...]] = {
    Category.ASSESSMENT: (_Part("information_requests", InformationRequest, REQUEST_FIELDS),),
    Category.CONSENT: (
        _Part("consents", Consent, CONSENT_FIELDS),
        _Part(GRANTS, ConsentScopeRow, GRANT_FIELDS),
    ),
    Category.DELIBERATION: (
        _Part("contributions", Contribution, CONTRIBUTION_FIELDS),
        _Part("decisions", Decision, DECISION_FIELDS),
    ),
    Category.SUPPORT: (
        _Part("interventions", Intervention, INTERVENTION_FIELDS),
        _Part("progress_notes", ProgressNote, NOTE_FIELDS),
        _Part("reviews", Review, REVIEW_FIELDS),
    ),
}


@cache
def linked_query(categories: tuple[Category, ...]) -> CompoundSelect[*tuple[Any, ...]]:
    """The lists of these categories in one statement, built once per combination:
    columns `part` (an index into the parts), `sort` (the row's id), then every part's
    columns side by side, NULL (of the column's type) outside its own part."""
    selects = [part.select() for category in categories for part in PARTS[category]]
    statement = side_by_side(*selects, shared=("sort",))
    # Not ordered here: SQLite would sort each part before merging them (a third of the
    # statement's time); `linked_records` sorts the few rows itself.
    return statement.execution_options(**selects[0].get_execution_options())


def intervention_facts(intervention_id: int, provider_org_id: int, state: str) -> RecordFacts:
    """An intervention as the policy's conditions see it: whose it is, and whether it is live."""
    live = state not in states.inactive_interventions()
    return RecordFacts("intervention", intervention_id, provider_org_id, live)


# Whether the viewer is shown this intervention: the policy asked about it.
Shows = Callable[[RecordFacts], bool]


def linked_records(
    scope: Scope, case_id: int, readable: set[Category], shows: Shows | None = None
) -> dict[str, list[Row]]:
    """The case's linked records of the readable categories. `shows`, when given, says which
    interventions the viewer is shown (their progress notes follow them); without it, all."""
    categories = tuple(category for category in PARTS if category in readable)
    if not categories:
        return {}
    parts = [part for category in categories for part in PARTS[category]]
    found: dict[str, list[Row]] = {part.key: [] for part in parts}
    starts, start = [], 2  # after `part` and `sort`
    for part in parts:
        starts.append(start)
        start += len(part.names)
    for row in sorted(scope.tuples(linked_query(categories), case_id=case_id), key=_position):
        index = row[0]
        part, first = parts[index], starts[index]
        values = dict(zip(part.names, row[first : first + len(part.names)], strict=True))
        found[part.key].append({"id": row[1], **values})
    if shows is not None and "interventions" in found:
        _keep_shown_interventions(found, shows)
    for part in parts:
        scope.open_rows(part.model, found[part.key])
    grants = found.pop(GRANTS, None)
    if grants is not None:
        _fold_grants(found["consents"], grants)
    return found


def _keep_shown_interventions(found: dict[str, list[Row]], shows: Shows) -> None:
    """Drop, before anything sealed is opened, the interventions the viewer is not shown
    and the progress notes of those interventions."""
    kept = [
        row
        for row in found["interventions"]
        if shows(intervention_facts(row["id"], row["provider_org_id"], row["state"]))
    ]
    ids = {row["id"] for row in kept}
    found["interventions"] = kept
    found["progress_notes"] = [n for n in found["progress_notes"] if n["intervention_id"] in ids]


def _position(row: tuple[Any, ...]) -> tuple[int, int]:
    """A row's list (part), then its id: the order each list is shown in."""
    return row[0], row[1]


# A consent's grant as a line a person reads: "Identity to civil society, for support".
# The category as its label says it (policies/labels.yaml), the kind of organisation and
# the purpose as a sentence says them; each a fixed phrase, so the line reads in the
# reader's language on a page (i18n.Phrase) and as English everywhere else.
SCOPE_CATEGORY_WORDS: dict[str, Phrase] = {
    "status": Phrase("Status"),
    "identity": Phrase("Identity"),
    "contact": Phrase("Contact"),
    "concern": Phrase("Concern"),
    "narrative": Phrase("Narrative"),
    "special": Phrase("Special"),
    "criminal": Phrase("Criminal"),
    "assessment": Phrase("Assessment"),
    "deliberation": Phrase("Deliberation"),
    "support": Phrase("Support"),
    "consent": Phrase("Consent"),
}
ORG_KIND_WORDS: dict[str, Phrase] = {
    "police": Phrase("police"),
    "health": Phrase("health"),
    "education": Phrase("education"),
    "social_care": Phrase("social care"),
    "youth": Phrase("youth"),
    "civil_society": Phrase("civil society"),
    "local_authority": Phrase("local authority"),
    "probation": Phrase("probation"),
    "private_sector": Phrase("private sector"),
    "national": Phrase("national"),
}


def scope_line(category: str, org_kind: str, purpose: str) -> Phrase:
    """One grant of a consent in words (a code none of the maps knows, as its name)."""
    return Phrase(
        "%(category)s to %(kind)s, for %(purpose)s",
        category=SCOPE_CATEGORY_WORDS.get(category) or category.replace("_", " ").capitalize(),
        kind=ORG_KIND_WORDS.get(org_kind) or org_kind.replace("_", " "),
        purpose=ledger.PURPOSE_WORDS.get(purpose) or purpose.replace("_", " "),
    )


def _fold_grants(consents: list[Row], grants: list[Row]) -> None:
    """Each consent's scope, as "Identity to civil society, for support" lines, sorted."""
    by_consent: dict[int, list[Phrase]] = defaultdict(list)
    # The same grants as codes, for exports that need them (services.fhir): the words are
    # for people and are not parsed back.
    codes: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for grant in grants:
        category, kind, purpose = (str(grant[k]) for k in ("category", "org_kind", "purpose"))
        by_consent[grant["consent_id"]].append(scope_line(category, kind, purpose))
        codes[grant["consent_id"]].append((category, kind, purpose))
    for consent in consents:
        consent["scope"] = sorted(by_consent[consent["id"]])
        consent["scope_codes"] = sorted(codes[consent["id"]])
