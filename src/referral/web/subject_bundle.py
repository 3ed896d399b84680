"""The readable page of a subject access bundle, rendered from the bundle's own data.

A standalone file (no script, its style in the file itself), so it stays readable once
downloaded or written by `referral subjects export`. Autoescaped: every personal value
is text, never markup. Plain Jinja here, no Litestar: the command line renders it too.
"""

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from referral.audit.ledger import rules_named
from referral.services.subject_export import SubjectBundle, bundle_dict
from referral.web.templating import StateLabel, label

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "subjects/bundle.html"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=False,
    )
    env.filters.update(label=label, rules_named=rules_named)
    return env


def bundle_html(bundle: SubjectBundle, state_label: StateLabel) -> str:
    """The page; `state_label` puts each case's state in its workflow file's words."""
    page = _environment().get_template(TEMPLATE)
    return page.render(b=bundle_dict(bundle), state_label=state_label)
