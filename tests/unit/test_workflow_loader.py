"""Loading workflow files: broken files fail with the file, the place and the problem."""

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from referral.domain.errors import ConfigurationError
from referral.workflow import load_workflow, load_workflows

TINY = Path(__file__).parent / "workflow_files" / "tiny.yaml"


def tiny() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TINY.read_text())
    return data


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_workflow(path)
    return caught.value.message


def test_valid_file_loads_with_hash_of_its_bytes() -> None:
    wf = load_workflow(TINY)
    assert (wf.name, wf.version, wf.path) == ("tiny", 1, TINY)
    assert wf.content_hash == hashlib.sha256(TINY.read_bytes()).hexdigest()


def test_unknown_dest_names_file_path_and_state(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][1]["dest"] = "dnoe"
    path = write(tmp_path, data)
    assert load_error(path) == f"{path}: transitions[1].dest: unknown state 'dnoe'"


def test_unknown_source_in_list_points_at_the_list_item(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][1]["source"] = ["open", "opne"]
    path = write(tmp_path, data)
    assert load_error(path) == f"{path}: transitions[1].source[1]: unknown state 'opne'"


def test_unknown_initial_state(tmp_path: Path) -> None:
    data = tiny()
    data["initial"] = "drafty"
    path = write(tmp_path, data)
    assert load_error(path) == f"{path}: initial: unknown state 'drafty'"


def test_duplicate_state(tmp_path: Path) -> None:
    data = tiny()
    data["states"].append({"name": "open"})
    path = write(tmp_path, data)
    assert load_error(path) == f"{path}: states[3].name: duplicate state 'open'"


def test_duplicate_trigger_from_same_source(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"].append(dict(data["transitions"][0], dest="done"))
    path = write(tmp_path, data)
    assert load_error(path) == (
        f"{path}: transitions[2].source: 'submit' from 'draft' is already declared "
        "in transitions[0]"
    )


def test_final_state_with_a_way_out(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"].append(
        {"trigger": "revive", "source": "done", "dest": "open", "permission": "case:manage"}
    )
    path = write(tmp_path, data)
    assert "transitions[2].source: final state 'done' cannot have a way out" in load_error(path)


def test_yaml_syntax_error_gives_line_number(tmp_path: Path) -> None:
    path = write(tmp_path, "name: tiny\nversion: 1\nobject: case: oops\n")
    assert load_error(path) == f"{path}: line 3: mapping values are not allowed here"


def test_duplicate_yaml_key_is_refused_not_overwritten(tmp_path: Path) -> None:
    path = write(tmp_path, TINY.read_text().replace("dest: open", "dest: open\n    dest: done"))
    assert load_error(path) == f"{path}: line 17: duplicate key 'dest'"


def test_missing_permission(tmp_path: Path) -> None:
    data = tiny()
    del data["transitions"][0]["permission"]
    path = write(tmp_path, data)
    assert load_error(path) == f"{path}: transitions[0].permission: required key is missing"


def test_malformed_permission(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][0]["permission"] = "submit"
    path = write(tmp_path, data)
    assert "transitions[0].permission: 'submit' is not of the form object:action" in load_error(
        path
    )


def test_unknown_key(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][0]["permision"] = "case:submit"
    path = write(tmp_path, data)
    assert f"{path}: transitions[0].permision: unknown key" in load_error(path)


def test_unknown_recipient(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][0]["notify"] = ["referrer", "mayor"]
    path = write(tmp_path, data)
    assert load_error(path).startswith(f"{path}: transitions[0].notify[1]: Input should be")


def test_timer_without_length(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][0]["timer"] = {}
    path = write(tmp_path, data)
    assert load_error(path) == (
        f"{path}: transitions[0].timer: a timer needs days or months greater than 0"
    )


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][0]["dest"] = "nowhere"
    data["transitions"][1]["dest"] = "elsewhere"
    path = write(tmp_path, data)
    assert load_error(path).splitlines() == [
        f"{path}: transitions[0].dest: unknown state 'nowhere'",
        f"{path}: transitions[1].dest: unknown state 'elsewhere'",
    ]


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    assert load_error(path) == f"{path}: the file is empty"


def test_missing_file(tmp_path: Path) -> None:
    assert load_error(tmp_path / "absent.yaml").startswith(
        f"{tmp_path / 'absent.yaml'}: cannot read"
    )


def test_source_may_splice_an_anchored_list(tmp_path: Path) -> None:
    text = TINY.read_text().replace("source: open", "source: [[open], draft]")
    text = text.replace("source: draft", "source: &early [draft]")
    wf = load_workflow(write(tmp_path, text))
    assert wf.transitions[1].source == ("open", "draft")


def test_load_workflows_indexes_by_name(tmp_path: Path) -> None:
    write(tmp_path, tiny(), "a.yaml")
    other = tiny() | {"name": "other"}
    write(tmp_path, other, "b.yaml")
    assert sorted(load_workflows(tmp_path)) == ["other", "tiny"]


def test_load_workflows_refuses_two_files_with_one_name_and_version(tmp_path: Path) -> None:
    first = write(tmp_path, tiny(), "a.yaml")
    second = write(tmp_path, tiny(), "b.yaml")
    with pytest.raises(ConfigurationError, match="already") as caught:
        load_workflows(tmp_path)
    assert caught.value.message == (
        f"{second}: version: 'tiny' version 1 is already loaded from {first};"
        " a changed process is a new version"
    )


def test_load_workflows_keeps_versions_side_by_side_newest_first(tmp_path: Path) -> None:
    (tmp_path / "earlier").mkdir()
    write(tmp_path / "earlier", tiny(), "tiny-v1.yaml")
    write(tmp_path, tiny() | {"version": 2}, "tiny.yaml")
    loaded = load_workflows(tmp_path)
    assert loaded["tiny"].version == 2  # what new records start on
    assert loaded.versions("tiny") == [1, 2]
    first = loaded.at("tiny", 1)
    assert first is not None and first.path == tmp_path / "earlier" / "tiny-v1.yaml"
    assert loaded.at("tiny", 3) is None
    assert [w.version for w in loaded.every()] == [2, 1]


def test_load_workflows_reports_every_broken_file(tmp_path: Path) -> None:
    write(tmp_path, "name: [\n", "a.yaml")
    write(tmp_path, tiny() | {"version": 0}, "b.yaml")
    with pytest.raises(ConfigurationError) as caught:
        load_workflows(tmp_path)
    lines = caught.value.message.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        str(tmp_path / "a.yaml"),
        str(tmp_path / "b.yaml"),
    ]
    assert lines[1].startswith(f"{tmp_path / 'b.yaml'}: version: Input should be greater")


def test_load_workflows_refuses_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no workflow files"):
        load_workflows(tmp_path)


def test_operation_in_an_unknown_state_names_file_operation_and_state(tmp_path: Path) -> None:
    data = tiny()
    data["operations"] = {"record_review": ["open", "opne"]}
    path = write(tmp_path, data)
    assert load_error(path) == f"{path}: operations.record_review[1]: unknown state 'opne'"


def test_operations_may_splice_an_anchored_list(tmp_path: Path) -> None:
    text = TINY.read_text() + "\nlive: &live [open]\noperations:\n  record_review: [*live, draft]\n"
    # `live` is not a key of the format: only the anchor is wanted, so strip it again.
    data = yaml.safe_load(text)
    del data["live"]
    wf = load_workflow(write(tmp_path, data))
    assert wf.spec.operations == {"record_review": ("open", "draft")}
    assert wf.allows("record_review", "open") and not wf.allows("record_review", "done")
    assert not wf.allows("set_agenda", "open")  # an operation not listed: allowed nowhere


def test_only_a_case_workflow_declares_operations(tmp_path: Path) -> None:
    data = tiny()
    data["object"] = "intervention"
    data["operations"] = {"record_progress": ["open"]}
    path = write(tmp_path, data)
    assert load_error(path) == (
        f"{path}: operations: only a case workflow declares operations on linked records"
    )


def test_labels_default_to_the_name_in_words(tmp_path: Path) -> None:
    data = tiny()
    data["states"][1]["label"] = "Open for business"
    wf = load_workflow(write(tmp_path, data))
    assert wf.state_label("open") == "Open for business"
    assert wf.state_label("draft") == "Draft"
    assert [t.shown_as for t in wf.transitions] == ["Submit", "Finish"]


def test_a_trigger_declared_from_several_sources_takes_the_label_it_is_given(
    tmp_path: Path,
) -> None:
    data = tiny()
    data["transitions"].append(
        {"trigger": "finish", "source": "draft", "dest": "done", "permission": "case:manage"}
    )
    data["transitions"][2]["label"] = "Close without submitting"
    wf = load_workflow(write(tmp_path, data))
    assert wf.trigger_labels == {"finish": "Close without submitting", "submit": "Submit"}


def test_an_outcome_belongs_to_a_move_a_service_fires(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][0]["outcome"] = "support"
    path = write(tmp_path, data)
    assert "transitions[0].outcome: only a transition with `via` has one" in load_error(path)


def test_tell_takes_only_the_referrer_and_staff_phrases(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][0]["tell"] = {"referrer": "received", "subject": "hello"}
    path = write(tmp_path, data)
    assert "transitions[0].tell.subject" in load_error(path)


def test_two_states_may_not_mean_the_same(tmp_path: Path) -> None:
    data = tiny()
    data["states"].append({"name": "underway", "means": "open"})
    path = write(tmp_path, data)
    assert load_error(path) == f"{path}: states[3].means: 'open' already means 'open'"


def test_only_a_closed_state_is_retained(tmp_path: Path) -> None:
    data = tiny()
    data["states"][1]["retain_months"] = 12
    path = write(tmp_path, data)
    assert "states[1].retain_months: only a closed state is retained" in load_error(path)
