"""Teach the process the names its files give the linked records' states.

The code reads a linked record's states by meaning (domain/states.py): a consent
`given`, a request `answered`, an intervention `withdrawn`, a meeting `cancelled`. A
file may name them as it likes, saying what a renamed state `means`. A deployment whose
files lack a meaning the code reads would quietly change who may see what, so it
refuses to start, naming the file and the meaning (`referral workflows check` says the
same); otherwise `configure_states` tells domain.states the names, once per process,
before anything is read.
"""

from collections.abc import Iterable

from referral.domain import states
from referral.domain.errors import ConfigurationError
from referral.workflow.schema import Workflow


def missing_states(workflows: Iterable[Workflow]) -> list[str]:
    """One sentence per meaning the code reads that a linked workflow's file lacks."""
    problems = []
    for workflow in workflows:
        kind = workflow.object.value.replace("_", " ")
        for meaning in sorted(states.MEANINGS.get(workflow.object.value, frozenset())):
            if meaning not in workflow.meanings:
                problems.append(
                    f"{workflow.path}: states: the code reads a {kind} in state '{meaning}',"
                    f" which this file does not declare (name it so, or give the state that"
                    f" stands for it `means: {meaning}`)"
                )
    return problems


def configure_states(workflows: Iterable[Workflow]) -> None:
    """Refuse files that lack a meaning the code reads; else tell domain.states the names."""
    loaded = list(workflows)
    problems = missing_states(loaded)
    if problems:
        listed = "\n".join(problems)  # each problem is a sentence of its own
        raise ConfigurationError(listed)
    states.configure(
        {
            (workflow.object.value, meaning): name
            for workflow in loaded
            if workflow.object.value in states.MEANINGS
            for meaning, name in workflow.meanings.items()
            if meaning in states.MEANINGS[workflow.object.value]
        }
    )
