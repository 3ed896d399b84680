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
