"""Why a category is shown or hidden, in the sharing agreement's words (authz.explain)."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from referral.authz import explain
from referral.authz.enforcer import Authorizer
from referral.authz.report import build_report
from referral.domain.actors import Actor
from referral.domain.facts import CaseFacts, ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Purpose, Role
from referral.i18n import ENGLISH, Phrase, render
from tests.unit.test_authz_enforcer import SHIPPED

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# What must never reach a person: rule syntax, files, conditions' names, ids.
SYNTAX = re.compile(r"default\.csv|[&|!]|\bconsent_covers|\bin_state\(|\bon_agenda\b|case \d+|_")


@pytest.fixture(scope="module")
def authz() -> Authorizer:
    return Authorizer(SHIPPED)


def actor(role: Role, kind: OrgKind = OrgKind.LOCAL_AUTHORITY) -> Actor:
    return Actor(1, 10, kind, 1, "demo", frozenset({role}))


def words(authz: Authorizer, who: Actor, facts: CaseFacts, **kw: object) -> dict[Category, str]:
    decisions = authz.category_decisions(who, facts, NOW)
    return explain.for_categories(
        decisions,
        who.roles,
        lambda category: authz.rules_for(who, category, "read"),
        **kw,  # type: ignore[arg-type]
    )


def test_a_shown_category_names_the_role_purpose_and_basis_of_its_rule(authz: Authorizer) -> None:
    said = words(authz, actor(Role.COORDINATOR), CaseFacts(7, 1, "screening", 2))
    assert said[Category.CRIMINAL] == (
        "Shared with you as coordinator, for screening a referral;"
        " legal basis: prevention of crime."
    )
    assert said[Category.IDENTITY].endswith("legal basis: public task.")


def test_a_deny_rule_says_the_agreement_keeps_it_from_the_role(authz: Authorizer) -> None:
    provider = actor(Role.PROVIDER, OrgKind.CIVIL_SOCIETY)
    said = words(authz, provider, CaseFacts(7, 1, "support", 2))
    assert said[Category.NARRATIVE] == "The sharing agreement keeps this from a support provider."


def test_a_hidden_category_says_what_would_show_it(authz: Authorizer) -> None:
    """The provider, not assigned and without consent: the rule's own conditions, in words."""
    provider = actor(Role.PROVIDER, OrgKind.CIVIL_SOCIETY)
    said = words(authz, provider, CaseFacts(7, 1, "support", 2))[Category.IDENTITY]
    assert said.startswith("Not shown now: a support provider sees this when an intervention")
    assert "consent" in said


def test_the_consent_that_covers_it_shows_it(authz: Authorizer) -> None:
    provider = actor(Role.PROVIDER, OrgKind.CIVIL_SOCIETY)
    scope = frozenset(
        ConsentScope(c, OrgKind.CIVIL_SOCIETY, Purpose.SUPPORT)
        for c in (Category.IDENTITY, Category.SUPPORT)
    )
    facts = CaseFacts(
        7, 1, "support", 2, provider_org_ids=frozenset({10}), consent_state="given",
        consent_scope=scope,
    )  # fmt: skip
    said = words(authz, provider, facts)
    assert said[Category.IDENTITY] == (
        "Shared with you as support provider, for giving support;"
        " legal basis: consent of the person."
    )
    assert said[Category.CONTACT].startswith("Not shown now:")


def test_no_rule_at_all_says_the_agreement_does_not_share_it(authz: Authorizer) -> None:
    said = words(authz, actor(Role.REFERRER, OrgKind.EDUCATION), CaseFacts(7, 1, "screening", 1))
    assert said[Category.SPECIAL] == "The sharing agreement does not share this with a referrer."


def test_break_glass_is_offered_only_where_the_viewer_may_break_it(authz: Authorizer) -> None:
    coordinator = actor(Role.COORDINATOR)
    said = words(
        authz, actor(Role.REFERRER), CaseFacts(7, 1, "screening", 2), openable={Category.SPECIAL}
    )
    assert said[Category.SPECIAL].endswith(explain.BREAK_GLASS)
    assert not said[Category.CRIMINAL].endswith(explain.BREAK_GLASS)
    opened = {Category.SPECIAL: datetime(2026, 3, 2, 10, 30, tzinfo=UTC)}
    said = words(authz, coordinator, CaseFacts(7, 1, "draft", 2), opened=opened)
    assert said[Category.SPECIAL] == (
        "Open to you under your break-glass grant until 02 Mar 2026, 10:30 UTC."
    )


@pytest.mark.parametrize("role", [r for r in Role if r != Role.SYSTEM])
@pytest.mark.parametrize("state", ["draft", "screening", "support", "closed"])
def test_no_rule_syntax_or_identifier_reaches_a_person(
    authz: Authorizer, role: Role, state: str
) -> None:
    said = words(
        authz,
        actor(role, OrgKind.CIVIL_SOCIETY),
        CaseFacts(7, 1, state, 2),
        openable=set(Category),
        state_label=lambda s: s.replace("_", " ").capitalize(),
    )
    for category, sentence in said.items():
        assert not SYNTAX.search(sentence), (role, category, sentence)
        assert sentence.endswith(".")


def _templates(value: object) -> Iterator[str]:
    """Every message a Phrase is made of, itself and its params', recursively."""
    if isinstance(value, Phrase):
        yield value.template
        for param in value.params.values():
            yield from _templates(param)


def test_every_phrase_of_the_agreement_is_a_message_make_messages_extracts(
    authz: Authorizer,
) -> None:
    """Why a category is shown or hidden, and the agreement in words, are made only of
    messages `make messages` extracts (state labels are the workflows' own), so that each
    reads in the reader's language; and rendered in English they are their English."""
    from tests.unit.test_catalogues import _extracted

    extracted = _extracted()
    # The states the shipped policy names, as the case workflow labels them (extracted too).
    labels = {"draft": "Draft", "awaiting_panel": "Awaiting panel"}.__getitem__
    made: list[Phrase] = []
    for role in Role:
        for state in ("draft", "screening", "awaiting_panel", "support", "closed"):
            said = words(
                authz,
                actor(role, OrgKind.CIVIL_SOCIETY),
                CaseFacts(7, 1, state, 2),
                openable={Category.SPECIAL},
                opened={Category.IDENTITY: NOW},
                state_label=labels,
            )
            made += said.values()
    report = build_report(authz.rules, policy_hash="x", files=[], state_label=labels)
    for section in report.sections:
        made.append(section.title)  # type: ignore[arg-type]
        for line in (*section.data, *section.permissions):
            made += [p for p in (line.what, line.may, line.who, line.when) if p]  # type: ignore[misc]
            made += [p for p in (line.purpose, line.legal_basis) if p]  # type: ignore[misc]
    assert all(isinstance(p, Phrase) for p in made)
    templates = {t for p in made for t in _templates(p)}
    assert templates <= extracted, sorted(templates - extracted)
    for p in made:  # a moment reads the page's way ("2 Mar 2026, 09:00"), the rest as said
        if "break-glass grant until" not in p:
            assert render(p, ENGLISH) == str(p), p
