"""The `handover` section of a case workflow: where a handed-over case continues.

`referral workflows check` loads the files through the same loader, so a mistake here is
refused there with the file and the place.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from referral.config import PROJECT_ROOT
from referral.domain.errors import ConfigurationError
from referral.workflow import load_workflow

SHIPPED = PROJECT_ROOT / "workflows" / "referral.yaml"


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    return data


def load_error(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "referral.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_workflow(path)
    return caught.value.message


def test_the_shipped_workflow_maps_every_state_a_handover_leaves() -> None:
    workflow = load_workflow(SHIPPED)
    leaving = {s for t in workflow.via("handover") for s in t.source}
    assert leaving and {s: workflow.continues_at(s) for s in leaving} == {
        "submitted": "submitted", "screening": "screening",
        "information_gathering": "screening", "awaiting_panel": "screening",
        "consent_pending": "screening", "support": "screening", "review": "screening",
    }  # fmt: skip
    # Not at panel, mid-decision; nothing once the case is closed.
    assert workflow.continues_at("panel_review") is None
    assert workflow.continues_at("closed") is None


def test_a_state_a_handover_leaves_without_a_mapping_is_refused(tmp_path: Path) -> None:
    data = shipped()
    del data["handover"]["continues_at"]["review"]
    assert "handover.continues_at: says nothing for 'review'" in load_error(tmp_path, data)


def test_a_handover_cannot_continue_in_a_closed_or_unknown_state(tmp_path: Path) -> None:
    data = shipped()
    data["handover"]["continues_at"]["screening"] = "closed"
    data["handover"]["continues_at"]["support"] = "nowhere"
    message = load_error(tmp_path, data)
    assert "handover.continues_at.screening: 'closed' is not an open state" in message
    assert "handover.continues_at.support: unknown state 'nowhere'" in message


def test_a_mapping_for_a_state_no_handover_leaves_is_refused(tmp_path: Path) -> None:
    data = shipped()
    data["handover"]["continues_at"]["panel_review"] = "screening"
    message = load_error(tmp_path, data)
    assert "handover.continues_at.panel_review: no transition `via: handover`" in message


def test_a_handover_transition_needs_the_handover_section(tmp_path: Path) -> None:
    data = shipped()
    del data["handover"]
    assert "handover: a transition `via: handover` needs" in load_error(tmp_path, data)
