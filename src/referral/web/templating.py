"""Jinja filters and globals shared by every template."""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine

from referral.domain.vocabulary import ERROR_WORDS, WORDS, action_words
from referral.workflow.schema import Workflow, WorkflowObject
from referral.workflow.versions import WorkflowSet

StateLabel = Callable[[str], str]


def state_labeller(workflows: Mapping[str, Workflow]) -> StateLabel:
    """A case state in words, as the case workflows' files label it.

    Pages show cases of whichever case workflow they run on; a name two of them share
    takes the label of the first. A state no file knows (a case pinned to a removed
    version) reads as its name in words.
    """
    labels: dict[str, str] = {}
    for workflow in WorkflowSet.of(workflows).every():  # a state of an earlier version too
        if workflow.object is WorkflowObject.CASE:
            for name, text in workflow.state_labels.items():
                labels.setdefault(name, text)

    def state_label(state: str) -> str:
        return labels.get(state) or label(state)

    return state_label


def action_labeller(workflows: Mapping[str, Workflow]) -> StateLabel:
    """An audited action in words: a move (`case:submit`, `consent:give`) as its file
    labels the trigger; any other action (`case:read`) in the vocabulary's words."""
    labels: dict[str, str] = {}
    for workflow in WorkflowSet.of(workflows).every():
        for trigger, text in workflow.trigger_labels.items():
            labels.setdefault(f"{workflow.object}:{trigger}", text)

    def action_label(action: str) -> str:
        return labels.get(action) or action_words(action)

    return action_label


def when(value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    return value.strftime(fmt) if value else "—"


def day(value: datetime | None) -> str:
    return when(value, "%d %b %Y")


def label(value: str) -> str:
    """A name from the code (a role, an enum value, a column) in words: the vocabulary's
    own words where it has them; a column's `_id` is dropped ("meeting_id": "Meeting")."""
    text = str(value)
    if text in WORDS:
        return WORDS[text]
    if text.endswith("_id"):
        text = text[: -len("_id")]
    return text.replace("_", " ").capitalize()


def error_text(text: str) -> str:
    """A field's error as a sentence: a bare code ("required") in words."""
    return ERROR_WORDS.get(str(text), str(text))


def value_words(value: Any) -> Any:
    """A stored value as it reads on a page: a known code word in words, else as it is."""
    return WORDS.get(value, value) if isinstance(value, str) else value


def configure(engine: JinjaTemplateEngine, workflows: Mapping[str, Workflow]) -> None:
    env: Any = engine.engine
    env.filters.update(
        state_label=state_labeller(workflows),
        action_label=action_labeller(workflows),
        when=when,
        day=day,
        label=label,
        error_text=error_text,
        words=value_words,
    )
    # Templates ship with the release: no stat of every template file on every render.
    env.auto_reload = False
