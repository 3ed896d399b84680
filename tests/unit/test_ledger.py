"""The disclosure ledger's format: a read's decisions per category, and their words."""

from datetime import UTC, datetime

from referral.audit.ledger import (
    BASIS_WORDS,
    CATEGORY_WORDS,
    PURPOSE_WORDS,
    Disclosure,
    disclosures,
    encode,
    rules_named,
    sentence,
    sentences,
    shared,
)
from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT
from referral.domain.actors import Actor
from referral.domain.facts import CaseFacts
from referral.domain.vocabulary import Category, LegalBasis, OrgKind, Purpose, Role
from referral.i18n import Phrase
from referral.services import linked

CRIMINAL_WHY = ("default.csv:32", "screening", "crime_prevention")
IDENTITY_WHY = ("default.csv:19", "screening", "public_task")
CRIMINAL = Disclosure(("criminal",), True, *CRIMINAL_WHY)
IDENTITY = Disclosure(("identity",), True, *IDENTITY_WHY)
SPECIAL = Disclosure(("special",), False, "")
NARRATIVE = Disclosure(("narrative",), False, "default.csv:118")


def test_a_reads_decisions_are_canonical_json_and_read_back_in_category_order() -> None:
    rule = encode(
        {"identity": IDENTITY_WHY, "criminal": CRIMINAL_WHY},
        {"special": "", "narrative": "default.csv:118"},
    )
    assert rule == (
        '{"read":{"criminal":["default.csv:32","screening","crime_prevention"],'
        '"identity":["default.csv:19","screening","public_task"]},'
        '"refused":{"narrative":"default.csv:118","special":""}}'
    )
    # Shown first, then refused, each in the order of the categories (identity first).
    found = disclosures(["criminal", "identity"], True, rule, "", "")
    assert found == (IDENTITY, CRIMINAL, NARRATIVE, SPECIAL)


def test_an_entry_of_one_decision_reads_as_one_decision_over_all_its_categories() -> None:
    line = "p, coordinator, *, status, read, !in_state(draft), screening, public_task, allow"
    found = disclosures(["criminal", "status"], True, line, "screening", "public_task")
    assert found == (Disclosure(("status", "criminal"), True, line, "screening", "public_task"),)
    assert disclosures([], True, line, "screening", "public_task") == ()


def test_a_rule_that_only_looks_like_json_is_read_as_stored() -> None:
    for rule in ("{not json", '{"read": 3}', '{"read":{"x":["a"]},"refused":{}}'):
        (found,) = disclosures(["status"], False, rule, "", "")
        assert found.rule == rule and found.categories == ("status",)


def test_each_decision_is_said_in_words_without_rule_syntax() -> None:
    assert sentence(CRIMINAL) == (
        "read criminal information for screening, legal basis: crime prevention"
    )
    assert sentence(NARRATIVE) == (
        "refused narrative information: a rule of the sharing agreement refuses it"
    )
    assert sentence(SPECIAL) == "refused special information: no rule allows it here"
    both = Disclosure(("status", "identity", "contact"), True, "p, ...", "panel", "public_task")
    assert sentence(both) == (
        "read status, identity and contact information for panel, legal basis: public task"
    )


def test_only_reads_are_said_as_reads() -> None:
    line = "p, coordinator, *, status, write, !in_state(draft), screening, public_task, allow"
    assert sentences("case:screen", ["status"], True, line, "screening", "public_task") == ()
    assert sentences("case:timeline", ["status"], True, line, "screening", "public_task") == (
        "read status information for screening, legal basis: public task",
    )


def test_a_per_category_rule_is_shown_by_file_and_line() -> None:
    rule = encode({"criminal": CRIMINAL_WHY}, {"special": "", "narrative": "default.csv:118"})
    assert rules_named(rule) == (
        "criminal default.csv:32; narrative refused by default.csv:118; special refused, no rule"
    )
    assert rules_named("p, dpo, *, audit, read") == "p, dpo, *, audit, read"


def test_the_columns_hold_a_purpose_only_when_every_category_shares_it() -> None:
    assert shared(["panel", "panel"]) == "panel"
    assert shared(["panel", "screening"]) == ""
    assert shared([]) == ""


def test_a_decision_names_its_rule_by_file_and_line() -> None:
    authz = Authorizer(PROJECT_ROOT / "policies")
    actor = Actor(1, 1, OrgKind.LOCAL_AUTHORITY, 1, "demo-city", frozenset({Role.COORDINATOR}))
    facts = CaseFacts(case_id=1, network_id=1, state="submitted", referrer_user_id=2)
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    decision = authz.decide(actor, "criminal", "read", facts, now)
    name, number = decision.rule_ref.split(":")
    line = (PROJECT_ROOT / "policies" / name).read_text(encoding="utf-8").splitlines()
    assert line[int(number) - 1] == decision.rule_text
    assert authz.decide(actor, "criminal", "write", facts, now).rule_ref == ""


def test_each_sentence_is_made_of_fixed_phrases_a_page_translates() -> None:
    """English as a string; for a page, a template whose every part is a fixed phrase
    (a message of the catalogues), so it reads whole in the reader's language."""
    words = sentence(Disclosure(("status", "identity", "contact"), True, *IDENTITY_WHY))
    assert (
        words
        == "read status, identity and contact information for screening, legal basis: public task"
    )
    assert isinstance(words, Phrase)
    assert (
        words.template == "read %(categories)s information for %(purpose)s, legal basis: %(basis)s"
    )

    def fixed(phrase: object) -> bool:
        return isinstance(phrase, Phrase) and all(fixed(p) for p in phrase.params.values())

    assert fixed(words)
    assert fixed(sentence(SPECIAL)) and fixed(sentence(NARRATIVE))


def test_every_code_a_sentence_names_has_its_words() -> None:
    assert set(CATEGORY_WORDS) == {str(c) for c in Category}
    assert set(PURPOSE_WORDS) == {str(p) for p in Purpose}
    assert set(BASIS_WORDS) == {str(b) for b in LegalBasis}
    assert set(linked.SCOPE_CATEGORY_WORDS) == {str(c) for c in Category}
    assert set(linked.ORG_KIND_WORDS) == {str(k) for k in OrgKind}
    line = linked.scope_line("identity", "civil_society", "support")
    assert line == "Identity to civil society, for support"
    assert line.template == "%(category)s to %(kind)s, for %(purpose)s"
