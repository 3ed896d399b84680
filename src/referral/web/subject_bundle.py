"""The readable page of a subject access bundle, rendered from the bundle's own data.

A standalone file (no script, its style in the file itself), so it stays readable once
downloaded or written by `referral subjects export`. Autoescaped: every personal value
is text, never markup. Plain Jinja here, no Litestar: the command line renders it too.
Its words are in the language asked for (the reader's on a download, English from the
command line); the data stays as recorded.
"""

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from referral import i18n
from referral.audit.ledger import rules_named
from referral.services.subject_export import SubjectBundle, bundle_dict
from referral.web.templating import StateLabel, label

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "subjects/bundle.html"


@cache
def _environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    words = i18n.translations(language)
    env.install_gettext_translations(words, newstyle=True)  # type: ignore[attr-defined]

    def in_words(value: Any) -> str:
        return words.gettext(str(value)) if value else ""

    env.filters.update(
        label=lambda value: in_words(label(value)), translate=in_words, rules_named=rules_named
    )
    return env


def bundle_html(
    bundle: SubjectBundle, state_label: StateLabel, language: str = i18n.SOURCE_LANGUAGE
) -> str:
    """The page; `state_label` puts each case's state in its workflow file's words, and
    `language` (a shipped one) the page's own words."""
    language = language if language in i18n.LANGUAGES else i18n.SOURCE_LANGUAGE
    env = _environment(language)
    page = env.get_template(TEMPLATE)
    return page.render(
        b=bundle_dict(bundle),
        state_label=lambda state: env.filters["translate"](state_label(state)),
        language=language,
        direction="rtl" if language in i18n.RIGHT_TO_LEFT else "ltr",
    )
