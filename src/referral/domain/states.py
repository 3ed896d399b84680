"""The states of linked records that code reads, by what they mean.

The policy's conditions and a few services ask whether a consent is given, a request
still waits for its agency, an intervention is under way or a meeting is cancelled. They
ask here, by meaning, never by a state's name: each linked workflow's file names its
states, and a state may say what it `means` (one of MEANINGS), else its name is its
meaning. The process learns the names once, from the files it loads (`configure`, which
bootstrap calls before anything is read or any statement is built), so a network may
rename a linked record's states in its files and lose nothing.

A process that never configures (the unit tests, a shell) reads the shipped names, which
are the meanings themselves.
"""

from collections.abc import Mapping

CONSENT, REQUEST, INTERVENTION, MEETING = (
    "consent",
    "information_request",
    "intervention",
    "panel_meeting",
)

# What the code asks of each kind of linked record: the meanings a file must declare.
MEANINGS: dict[str, frozenset[str]] = {
    CONSENT: frozenset({"requested", "given", "refused"}),
    REQUEST: frozenset({"requested", "overdue", "answered", "declined", "withdrawn"}),
    INTERVENTION: frozenset({"active", "withdrawn"}),
    MEETING: frozenset({"scheduled", "agenda_set", "held", "cancelled"}),
}

# The consent state of a case that has no consent record yet: a placeholder in the facts,
# never compared with a state a file declares.
NO_CONSENT = "not_sought"

_names: dict[tuple[str, str], str] = {}


def configure(names: Mapping[tuple[str, str], str]) -> None:
    """(kind, meaning) -> the state's name in this deployment's files."""
    _names.clear()
    _names.update(names)


def name(kind: str, meaning: str) -> str:
    return _names.get((kind, meaning), meaning)


def names(kind: str, *meanings: str) -> tuple[str, ...]:
    return tuple(name(kind, m) for m in meanings)


# The questions asked in more than one place.
def consent_given() -> str:
    return name(CONSENT, "given")


def settled_by_agency() -> tuple[str, ...]:
    """A request in these states waits for nothing more from its agency: it no longer
    opens the case to the agency it was addressed to (withdrawn: the case closed)."""
    return names(REQUEST, "answered", "declined", "withdrawn")


def open_requests() -> tuple[str, ...]:
    """A request in these states may still be answered."""
    return names(REQUEST, "requested", "overdue")


def settled_for_panel() -> tuple[str, ...]:
    """A request in these states no longer holds a case back from the panel."""
    return names(REQUEST, "answered", "declined", "overdue", "withdrawn")


def inactive_interventions() -> tuple[str, ...]:
    """An intervention in these states is no longer in force: it opens nothing."""
    return names(INTERVENTION, "withdrawn")


def inactive_meetings() -> tuple[str, ...]:
    """A meeting in these states opens nothing: its agenda shows a case to nobody."""
    return names(MEETING, "cancelled")


def open_meetings() -> tuple[str, ...]:
    return names(MEETING, "scheduled", "agenda_set", "held")
