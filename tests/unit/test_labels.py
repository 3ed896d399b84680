"""Every code the sharing agreement and the data use has words in policies/labels.yaml,
so no page shows a role, a kind of organisation or a category as code, in any language."""

from enum import StrEnum

import pytest

from referral.config import PROJECT_ROOT
from referral.domain import vocabulary
from referral.web.templating import load_labels

LABELS_FILE = PROJECT_ROOT / "policies" / "labels.yaml"
VOCABULARIES: list[type[StrEnum]] = [
    vocabulary.Role,
    vocabulary.OrgKind,
    vocabulary.Category,
    vocabulary.Purpose,
    vocabulary.LegalBasis,
    vocabulary.ConcernType,
    vocabulary.InterventionKind,
]


@pytest.mark.parametrize("codes", VOCABULARIES, ids=lambda codes: codes.__name__)
def test_every_code_has_its_words(codes: type[StrEnum]) -> None:
    labels = load_labels(LABELS_FILE)
    missing = [code.value for code in codes if not labels.get(code.value, "").strip()]
    assert not missing, f"policies/labels.yaml names no words for {missing}"


def test_labels_are_words_not_codes() -> None:
    labels = load_labels(LABELS_FILE)
    coded = {code: words for code, words in labels.items() if "_" in words or ":" in words}
    assert not coded, f"labels that read as code: {coded}"


def _shown_names() -> set[str]:
    """Every field and record name a page names through the `label` filter: the case's
    columns by section (not its status columns but the summary's), its linked records'
    lists and columns, the panel's and the provider's views of it."""
    from referral.db.fields import categorised_columns
    from referral.db.tables import Case, Subject
    from referral.services import actions, caseload, linked, meetings

    names = {
        name
        for model in (Case, Subject)
        for name, category in categorised_columns(model).items()
        if category != vocabulary.Category.STATUS
    }
    names |= set(actions.SUMMARY_FIELDS) | set(meetings.PANEL_FIELDS)
    names |= set(caseload.PROVIDER_FIELDS)
    for parts in linked.PARTS.values():
        for part in parts:
            if part.key != linked.GRANTS:  # folded into each consent's "scope"
                names |= {part.key, *part.names}
    return (names | {"scope"}) - {"id"}  # a row's id reads as "Number" on the page


def test_every_field_a_page_names_has_its_words() -> None:
    labels = load_labels(LABELS_FILE)
    missing = sorted(name for name in _shown_names() if not labels.get(name, "").strip())
    assert not missing, f"policies/labels.yaml (fields:) names no words for {missing}"


def test_every_stored_value_a_case_page_shows_has_its_words() -> None:
    """The states of a case's records, how consent was asked and by whom, the kinds of
    review, the panel's outcomes, a possible earlier referral's status."""
    from referral.services import consent, lifecycle, linkage
    from referral.workflow.loader import load_workflows
    from referral.workflow.schema import WorkflowObject

    workflows = load_workflows(PROJECT_ROOT / "workflows")
    values = {
        state.name
        for workflow in workflows.every()
        if workflow.object is not WorkflowObject.CASE
        for state in workflow.states
    }
    values |= {t.outcome for w in workflows.every() for t in w.transitions if t.outcome}
    values |= set(consent.METHODS) | {"subject", "guardian"} | set(lifecycle.REVIEW_KINDS)
    values |= {linkage.POSSIBLE, linkage.ASKED, linkage.CONFIRMED, linkage.REJECTED}
    labels = load_labels(LABELS_FILE)
    missing = sorted(v for v in values if not labels.get(v, "").strip())
    assert not missing, f"policies/labels.yaml names no words for {missing}"
