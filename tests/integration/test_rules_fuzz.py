"""The stateful fuzz of the rules, briefly (tests/integration/rules_machine.py says what
it drives and checks; bench/fuzz.py runs it for 1,000 steps or more)."""

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from referral.services.uow import Runtime
from tests.factories import make_world
from tests.integration.rules_machine import Tally, machine_for


def test_random_actors_on_random_cases_keep_every_invariant(runtime: Runtime) -> None:
    tally = Tally()
    machine = machine_for(runtime, make_world(runtime), tally)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=4,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # The run did what it is for: reads shown and refused, operations done and refused,
    # each invariant checked.
    assert tally.outcomes["read:shown"] and tally.outcomes["read:refused"]
    assert any(k.endswith(":refused") and k.startswith("poke") for k in tally.outcomes)
    assert any(k.startswith("advance") and k.endswith(":done") for k in tally.outcomes)
    assert tally.checks["audit chain verifies"] >= 30
    for invariant in (
        "nothing shown outside the agreement",
        "nothing shown beyond the consent",
        "every read ledgered",
        "each category ledgered with its rule's purpose and basis",
        "every refused read ledgered",
        "a refusal changes nothing",
        "a linked record only where its operation is allowed",
    ):
        assert tally.checks[invariant] > 0, invariant
