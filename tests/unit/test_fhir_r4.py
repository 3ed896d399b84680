"""The R4 validator the FHIR tests use (tests/fhir_r4.py) refuses what R4 refuses: an
element R4 does not have, a missing required element, a wrong type or cardinality, a
badly formed date, an unknown resource type; and it parses each entry as its own class."""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.fhir_r4 import r4_valid

VALID: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/1"},
                "authoredOn": "2026-12-07T10:00:00+00:00",
            }
        },
        {"resource": {"resourceType": "Task", "status": "requested", "intent": "order"}},
    ],
}


def _resource(bundle: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][0]["resource"]
    return resource


def test_a_valid_bundle_parses_each_entry_as_its_own_r4_class() -> None:
    parsed = r4_valid(copy.deepcopy(VALID))
    assert [type(e.resource).__name__ for e in parsed.entry] == ["ServiceRequest", "Task"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: _resource(b).update(madeUp=1), 'Superfluous entry "madeUp"'),
        (lambda b: _resource(b).pop("status"), 'Non-optional property "status"'),
        (
            lambda b: _resource(b).update(status=5),
            "Wrong type <class 'int'> for property \"status\"",
        ),
        (lambda b: _resource(b).update(subject=[{"reference": "x"}]), '"subject"'),
        (lambda b: _resource(b).update(authoredOn="yesterday"), "does not match expected format"),
        # R5 added Task.requestedPerformer; R4 (and R4B) have no such element.
        (lambda b: b["entry"][1]["resource"].update(requestedPerformer=[]), "requestedPerformer"),
    ],
)
def test_what_r4_does_not_allow_is_refused_by_path(
    change: Callable[[dict[str, Any]], object], problem: str
) -> None:
    bundle = copy.deepcopy(VALID)
    change(bundle)
    with pytest.raises(AssertionError, match="not valid FHIR R4") as refused:
        r4_valid(bundle)
    assert problem in str(refused.value)
