"""Condition expressions: the tiny language of the policy's condition column."""

import re
from datetime import UTC, datetime

import pytest

from referral.authz.conditions import CONDITIONS, Question
from referral.authz.expressions import AllOf, AnyOf, Call, ExpressionError, Not, parse
from referral.domain.actors import Actor
from referral.domain.facts import CaseFacts
from referral.domain.vocabulary import OrgKind, Role

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def question(
    kind: OrgKind = OrgKind.HEALTH, referrer: int = 1, state: str = "screening"
) -> Question:
    actor = Actor(1, 10, kind, 1, "demo", frozenset({Role.PANEL_MEMBER}))
    return Question(actor, CaseFacts(7, 1, state, referrer), "status", "read", NOW)


def test_a_name_is_a_call_of_the_registered_condition() -> None:
    assert parse("own_referral") == Call(CONDITIONS["own_referral"], ())


def test_arguments_are_bare_words() -> None:
    expr = parse("org_kind_in(health, social_care)")
    assert expr == Call(CONDITIONS["org_kind_in"], ("health", "social_care"))


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    expr = parse("true | !own_referral & in_state(review)")
    assert isinstance(expr, AnyOf)
    assert isinstance(expr.operands[1], AllOf)
    assert isinstance(expr.operands[1].operands[0], Not)


def test_parentheses_group() -> None:
    assert parse("(true | own_referral) & in_state(support)").holds(question()) is False
    assert parse("true | own_referral & in_state(support)").holds(question()) is True


def test_not_negates() -> None:
    assert parse("!own_referral").holds(question(referrer=2)) is True
    assert parse("!!own_referral").holds(question(referrer=2)) is False


def test_evaluates_against_the_question() -> None:
    expr = parse("own_referral & org_kind_in(health) & in_state(screening, review)")
    assert expr.holds(question()) is True
    assert expr.holds(question(kind=OrgKind.POLICE)) is False
    assert expr.holds(question(state="support")) is False


def test_parse_is_cached_per_string() -> None:
    assert parse("on_agenda & consent_given") is parse("on_agenda & consent_given")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("on_agneda", "unknown condition 'on_agneda'"),
        ("", "empty condition"),
        ("on_agenda &", "ends too early"),
        ("on_agenda on_agenda", "unexpected 'on_agenda'"),
        ("(on_agenda", "ends too early"),
        ("on_agenda)", "unexpected ')'"),
        ("on_agenda && assigned", "unexpected '&'"),
        ("on_agenda = 1", "unexpected '='"),
        ("in_state()", "expected an argument, got ')'"),
        ("in_state", "in_state takes at least 1 argument(s), got 0"),
        ("own_referral(x)", "own_referral takes no arguments, got 1"),
        ("org_kind_in(helth)", "unknown organisation kind 'helth'"),
        ("consent_covers(suport)", "unknown category 'suport'"),
        ("consent_covers(support, special)", "consent_covers takes 0 to 1 argument(s), got 2"),
    ],
)
def test_a_broken_expression_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse(text)
