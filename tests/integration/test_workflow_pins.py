"""A workflow version is pinned to the content it was first loaded with (issue 11, item 7)."""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from referral.config import PROJECT_ROOT
from referral.db.tables import WorkflowVersion
from referral.domain.errors import ConfigurationError
from referral.services.workflow_pins import pin_workflows
from referral.workflow.loader import load_workflows
from referral.workflow.versions import WorkflowSet


def _copy_workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", folder)
    return folder


def test_first_load_pins_every_version_and_a_second_load_passes(runtime, tmp_path):
    folder = _copy_workflows(tmp_path)
    workflows = load_workflows(folder)
    pin_workflows(runtime.session_factory, workflows)
    pin_workflows(runtime.session_factory, load_workflows(folder))  # unchanged: fine
    with runtime.session_factory() as session:
        pins = {
            (p.name, p.version): p.content_hash for p in session.scalars(select(WorkflowVersion))
        }
    # Every version loaded, earlier ones kept beside the newest included (workflows/earlier/).
    expected = {(w.name, w.version): w.content_hash for w in WorkflowSet.of(workflows).every()}
    assert pins == expected
    assert len(expected) > len(workflows)  # the shipped set holds an earlier version


def test_an_edit_without_a_new_version_is_refused_naming_the_file(runtime, tmp_path):
    folder = _copy_workflows(tmp_path)
    workflows = load_workflows(folder)
    pin_workflows(runtime.session_factory, workflows)
    version = workflows["consent"].version
    edited = folder / "consent.yaml"
    edited.write_text(edited.read_text().replace("has been asked.", "was asked."))
    with pytest.raises(ConfigurationError) as refused:
        pin_workflows(runtime.session_factory, load_workflows(folder))
    assert str(edited) in refused.value.message
    assert f"consent version {version} changed" in refused.value.message
    assert "Raise `version`" in refused.value.message


def test_the_same_edit_with_a_new_version_is_pinned_beside_the_old(runtime, tmp_path):
    folder = _copy_workflows(tmp_path)
    workflows = load_workflows(folder)
    pin_workflows(runtime.session_factory, workflows)
    version = workflows["consent"].version
    edited = folder / "consent.yaml"
    text = edited.read_text().replace("has been asked.", "was asked.")
    edited.write_text(text.replace(f"\nversion: {version}\n", f"\nversion: {version + 1}\n"))
    pin_workflows(runtime.session_factory, load_workflows(folder))
    with runtime.session_factory() as session:
        versions = sorted(
            session.scalars(
                select(WorkflowVersion.version).where(WorkflowVersion.name == "consent")
            )
        )
    assert versions == [version, version + 1]
