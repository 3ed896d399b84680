"""Each registered guard on its own: a pure function of GuardFacts with a sentence for 'no'."""

import pytest

from referral.domain.facts import GuardFacts
from referral.workflow import GUARD_FAILURES, GUARDS, failure_sentence, guard

REQUIRED = [
    "consent_given",
    "consent_refused",
    "information_settled",
    "on_open_agenda",
    "has_agenda",
    "minutes_recorded",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_required_guard_is_registered_with_a_sentence(name: str) -> None:
    assert name in GUARDS
    assert GUARD_FAILURES[name]


@pytest.mark.parametrize(
    ("name", "facts", "expected"),
    [
        ("consent_given", GuardFacts(consent_state="given"), True),
        ("consent_given", GuardFacts(consent_state="requested"), False),
        ("consent_given", GuardFacts(consent_state="withdrawn"), False),
        ("consent_refused", GuardFacts(consent_state="refused"), True),
        ("consent_refused", GuardFacts(consent_state="given"), False),
        ("information_settled", GuardFacts(), True),
        (
            "information_settled",
            GuardFacts(information_request_states=("answered", "declined", "overdue")),
            True,
        ),
        ("information_settled", GuardFacts(information_request_states=("requested",)), False),
        (
            "information_settled",
            GuardFacts(information_request_states=("requested",), information_deadline_passed=True),
            True,
        ),
        ("on_open_agenda", GuardFacts(on_open_agenda=True), True),
        ("on_open_agenda", GuardFacts(), False),
        ("has_agenda", GuardFacts(agenda_size=1), True),
        ("has_agenda", GuardFacts(agenda_size=0), False),
        ("minutes_recorded", GuardFacts(minutes_recorded=True), True),
        ("minutes_recorded", GuardFacts(), False),
    ],
)
def test_guard_answers(name: str, facts: GuardFacts, expected: bool) -> None:
    assert GUARDS[name](facts) is expected


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        guard("consent_given", failure="again")(lambda facts: True)


def test_unknown_guard_still_gets_a_sentence() -> None:
    assert failure_sentence("moon_is_full") == "the condition 'moon_is_full' is not met"
