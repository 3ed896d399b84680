"""Named guards: the `conditions` a workflow file may use.

A guard is a small pure function of `GuardFacts`. Each one is registered with
the sentence a person sees when it says no, so a refused transition explains
itself ("consent has not been given") instead of just failing.
"""

from collections.abc import Callable

from referral.domain import states
from referral.domain.facts import GuardFacts

Guard = Callable[[GuardFacts], bool]

GUARDS: dict[str, Guard] = {}
GUARD_FAILURES: dict[str, str] = {}


def guard(name: str, *, failure: str) -> Callable[[Guard], Guard]:
    """Register the decorated function as guard `name`; `failure` says why it refuses."""

    def register(func: Guard) -> Guard:
        if name in GUARDS:
            raise ValueError(f"guard '{name}' is already registered")
        GUARDS[name] = func
        GUARD_FAILURES[name] = failure
        return func

    return register


def failure_sentence(name: str) -> str:
    return GUARD_FAILURES.get(name, f"the condition '{name}' is not met")


@guard("consent_given", failure="consent has not been given")
def consent_given(facts: GuardFacts) -> bool:
    return facts.consent_state == states.consent_given()


@guard("consent_refused", failure="consent has not been refused")
def consent_refused(facts: GuardFacts) -> bool:
    return facts.consent_state == states.name(states.CONSENT, "refused")


@guard(
    "information_settled",
    failure="information requests are still awaiting answers and their deadline has not passed",
)
def information_settled(facts: GuardFacts) -> bool:
    # No requests sent counts as settled: the panel may decide on what it has.
    if facts.information_deadline_passed:
        return True
    settled = states.settled_for_panel()
    return all(s in settled for s in facts.information_request_states)


@guard("on_open_agenda", failure="the case is not on the agenda of an open panel meeting")
def on_open_agenda(facts: GuardFacts) -> bool:
    return facts.on_open_agenda


@guard("has_agenda", failure="the meeting has no cases on its agenda")
def has_agenda(facts: GuardFacts) -> bool:
    return facts.agenda_size > 0


@guard("minutes_recorded", failure="no minutes have been recorded for the meeting")
def minutes_recorded(facts: GuardFacts) -> bool:
    return facts.minutes_recorded
