"""Read workflow files into validated `Workflow` objects.

Every failure becomes a `ConfigurationError` whose lines read
`<file>: <path inside it>: <what is wrong>`, so a person can fix the file
without reading a traceback.
"""

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from referral.domain.errors import ConfigurationError
from referral.workflow.schema import Workflow, WorkflowSpec
from referral.workflow.versions import WorkflowSet


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which plain YAML silently overwrites."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_workflow(path: str | Path) -> Workflow:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            "{path}: cannot read: {strerror}", path=path, strerror=exc.strerror
        ) from None
    data = _parse(path, raw)
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        lines = (f"{path}: {line}" for err in exc.errors() for line in _describe(err))
        listed = "\n".join(lines)  # each problem is a sentence of its own
        raise ConfigurationError(listed) from None
    return Workflow(spec=spec, path=path, content_hash=hashlib.sha256(raw).hexdigest())


def load_workflows(directory: str | Path) -> WorkflowSet:
    """Every `*.yaml` file under `directory` (its subfolders too: earlier versions may be
    kept apart, say in `workflows/earlier/`), all problems reported at once.

    Several files may hold one workflow if their versions differ: they are loaded side
    by side, new records start on the newest, and each case runs the version it is on.
    """
    directory = Path(directory)
    files = sorted(directory.rglob("*.yaml")) if directory.is_dir() else []
    if not files:
        raise ConfigurationError(
            "{directory}: no workflow files (*.yaml) found", directory=directory
        )
    loaded: dict[tuple[str, int], Workflow] = {}
    problems: list[str] = []
    for file in files:
        try:
            workflow = load_workflow(file)
        except ConfigurationError as exc:
            problems.append(exc.message)
            continue
        key = (workflow.name, workflow.version)
        if key in loaded:
            other = loaded[key].path
            problems.append(
                f"{file}: version: '{workflow.name}' version {workflow.version} is already"
                f" loaded from {other}; a changed process is a new version"
            )
        loaded.setdefault(key, workflow)
    if problems:
        listed = "\n".join(problems)  # each problem is a sentence of its own
        raise ConfigurationError(listed)
    return WorkflowSet(loaded.values())


def _parse(path: Path, raw: bytes) -> Any:
    try:
        data = yaml.load(raw, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigurationError(
            "{path}: {where}{problem}", path=path, where=where, problem=exc.problem or exc.context
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigurationError("{path}: {exc}", path=path, exc=exc) from None
    if data is None:
        raise ConfigurationError("{path}: the file is empty", path=path)
    return data


def _describe(err: ErrorDetails) -> list[str]:
    """Turn one pydantic error into `path: message` lines."""
    where = _location(err["loc"])
    if err["type"] == "missing":
        message = "required key is missing"
    elif err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "value_error":
        # Our own validators: drop pydantic's "Value error, " prefix.
        message = str(err.get("ctx", {}).get("error", err["msg"]))
    else:
        message = err["msg"]
    if not where:
        # Cross-field problems already carry their own paths, one per line.
        return message.splitlines()
    return [f"{where}: {message}"]


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
