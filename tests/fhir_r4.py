"""Validation against FHIR R4 itself (4.0.1), beside fhir.resources' R4B models.

fhir.resources 8 ships R4B and R5 only, and its R4 builds (5.x, 6.x) need pydantic 1,
which the application's pydantic 2 excludes. fhirclient 4.x (SMART on FHIR) carries
models generated from FHIR 4.0.1, in plain Python: parsing a resource checks each
element's type, cardinality (a list or not), that required elements are there and that
no key is unknown to R4, naming the path of every problem (FHIRValidationError).
"""

from typing import Any

from fhirclient.models.bundle import Bundle
from fhirclient.models.fhirabstractbase import FHIRValidationError

R4_VERSION = "4.0.1"


def r4_valid(bundle: dict[str, Any]) -> Bundle:
    """The Bundle parsed by the R4 models, each entry's resource as its own R4 class;
    AssertionError naming every problem otherwise."""
    try:
        parsed = Bundle(bundle, strict=True)
    except FHIRValidationError as exc:
        raise AssertionError(f"not valid FHIR R4 ({R4_VERSION}): {exc}") from exc
    for entry, raw in zip(parsed.entry or [], bundle.get("entry", []), strict=True):
        # The entry's resource is parsed as the class its resourceType names, not as the
        # abstract Resource: its own elements are checked too.
        assert type(entry.resource).__name__ == raw["resource"]["resourceType"], raw
    return parsed
