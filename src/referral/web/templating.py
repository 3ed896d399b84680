"""Jinja filters and globals shared by every template.

Every string a page shows goes through the reader's catalogue (referral.i18n): the
templates' own through `{% trans %}` and `_()`, the codes and labels shown through the
filters below, which translate what they return.
"""

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Template, pass_context
from jinja2.runtime import Context
from litestar.plugins.jinja import JinjaTemplateEngine

from referral import i18n
from referral.domain.vocabulary import ERROR_WORDS, WORDS, action_words
from referral.web.language import reading_of
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


def load_labels(path: Path) -> dict[str, str]:
    """The labels of `policies/labels.yaml`, code -> words, every section in one map (a
    code two sections share, like `support`, reads the same in both), then the
    vocabulary's own words for anything the file does not name."""
    sections = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    labels: dict[str, str] = {}
    for section in (sections or {}).values():
        for code, words in (section or {}).items():
            labels.setdefault(str(code), str(words))
    return {**WORDS, **labels}


LABELS: dict[str, str] = dict(WORDS)


def label(value: str) -> str:
    """A name from the code (a role, an enum value, a column) in words: the labels' own
    words where they have them; a column's `_id` is dropped ("meeting_id": "Meeting")."""
    text = str(value)
    if text in LABELS:
        return LABELS[text]
    if text.endswith("_id"):
        text = text[: -len("_id")]
    return text.replace("_", " ").capitalize()


# The reading of the page being rendered, for a macro's own words and dates: a template
# imported without context (`{% from "_forms.html" import input %}`) sees the globals only,
# no request. Set for the length of each render by `ReadingTemplate`, so a fragment whose
# first words are a macro's reads like its page, and nothing carries over to the next
# request a connection sends.
_RENDERING: ContextVar[i18n.Reading] = ContextVar("rendering", default=i18n.ENGLISH)


class ReadingTemplate(Template):
    """A page or fragment that renders in its request's language from its first word."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        given = dict(*args, **kwargs)
        reading = reading_of(given.get("request"), given.get("viewer"))
        token = _RENDERING.set(reading)
        try:
            return super().render(*args, **kwargs)
        finally:
            _RENDERING.reset(token)


def _reading(context: Context) -> i18n.Reading:
    request = context.get("request")
    if request is None:
        return _RENDERING.get()
    return reading_of(request, context.get("viewer"))


def _in_words(context: Context, text: str) -> str:
    return i18n.gettext(_reading(context).language, text)


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _in_words(context, message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(_reading(context).language, singular, plural, n)


@pass_context
def translate(context: Context, message: Any) -> str:
    """A message made elsewhere (an error, a confirmation, a stored notice) in the
    reader's language when the catalogue has it, else as it is; a sentence made of fixed
    phrases (i18n.Phrase: a read's disclosures, a consent's scope) phrase by phrase."""
    if isinstance(message, i18n.Phrase):
        return i18n.render(message, _reading(context))
    return _in_words(context, str(message)) if message else ""


@pass_context
def when(context: Context, value: datetime | None, fmt: str = "") -> str:
    """A moment in the reader's language and the network's time zone; `"%H:%M"`: its
    time only."""
    reading = _reading(context)
    if fmt == "%H:%M":
        return i18n.format_time(value, reading)
    return i18n.format_datetime(value, reading)


@pass_context
def day(context: Context, value: datetime | date | None) -> str:
    return i18n.format_day(value, _reading(context))


@pass_context
def number(context: Context, value: float | int) -> str:
    return i18n.format_number(value, _reading(context))


@pass_context
def label_filter(context: Context, value: str) -> str:
    return _in_words(context, label(value))


@pass_context
def error_text(context: Context, text: str) -> str:
    """A field's error as a sentence: a bare code ("required") in words."""
    return _in_words(context, ERROR_WORDS.get(str(text), str(text)))


@pass_context
def value_words(context: Context, value: Any) -> Any:
    """A stored value as it reads on a page: a known code word in words, else as it is."""
    if isinstance(value, str) and value in LABELS:
        return _in_words(context, LABELS[value])
    return value


def _translated(labeller: StateLabel) -> Callable[..., str]:
    @pass_context
    def in_words(context: Context, value: str) -> str:
        return _in_words(context, labeller(value))

    return in_words


# A value of the form `word_word`: an enum's value, never free text a person wrote.
CODE_WORD = re.compile(r"[a-z0-9]+(_[a-z0-9]+)+")


@pass_context
def show(context: Context, value: Any) -> str:
    """A field's value as text: dates in the reader's way, lists joined, booleans and
    code words in words."""
    if isinstance(value, bool):
        return _in_words(context, "Yes" if value else "No")
    if isinstance(value, datetime):
        return i18n.format_datetime(value, _reading(context))
    if isinstance(value, date):
        return i18n.format_day(value, _reading(context))
    if isinstance(value, list | tuple | set | frozenset):
        return (
            ", ".join(_code_words(context, v if isinstance(v, str) else str(v)) for v in value)
            or "—"
        )
    if value is None or value == "":
        return "—"
    return _code_words(context, value if isinstance(value, str) else str(value))


def _code_words(context: Context, text: str) -> str:
    """A code word (an enum's value such as `in_person`) in words, a sentence made of
    fixed phrases in the reader's language; other text as it is."""
    if isinstance(text, i18n.Phrase):
        return i18n.render(text, _reading(context))
    if text in LABELS or CODE_WORD.fullmatch(text):
        return _in_words(context, label(text))
    return text


@pass_context
def page_reading(context: Context) -> i18n.Reading:
    """The page's language, direction and time zone, for `<html lang dir>` and the
    meeting form's zone."""
    return _reading(context)


def configure(engine: JinjaTemplateEngine, workflows: Mapping[str, Workflow], labels: Path) -> None:
    env: Any = engine.engine
    LABELS.update(load_labels(labels))
    env.template_class = ReadingTemplate
    env.add_extension("jinja2.ext.i18n")
    # {% trans %} blocks are one line of words in the catalogue, however they are wrapped.
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    env.filters.update(
        state_label=_translated(state_labeller(workflows)),
        action_label=_translated(action_labeller(workflows)),
        when=when,
        day=day,
        number=number,
        label=label_filter,
        error_text=error_text,
        words=value_words,
        translate=translate,
    )
    env.globals.update(reading=page_reading, languages=i18n.LANGUAGES, show=show)
    # Templates ship with the release: no stat of every template file on every render.
    env.auto_reload = False
