"""Jinja filters and globals shared by every template."""

from datetime import datetime
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine

STATE_LABELS = {
    "draft": "Draft",
    "submitted": "Submitted",
    "screening": "Screening",
    "closed_no_action": "Closed: no further action",
    "signposted": "Signposted to another service",
    "police_led": "Police-led",
    "information_gathering": "Gathering information",
    "awaiting_panel": "Awaiting panel",
    "panel_review": "At panel",
    "consent_pending": "Awaiting consent",
    "support": "In support",
    "review": "Under review",
    "exited": "Support ended",
    "follow_up_6m": "6-month follow-up",
    "follow_up_12m": "12-month follow-up",
    "closed": "Closed",
    "closed_consent_refused": "Closed: consent refused",
    "closed_consent_withdrawn": "Closed: consent withdrawn",
    "transferred": "Transferred",
    "erased": "Erased",
}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state.replace("_", " ").capitalize())


def when(value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    return value.strftime(fmt) if value else "—"


def day(value: datetime | None) -> str:
    return when(value, "%d %b %Y")


def label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def configure(engine: JinjaTemplateEngine) -> None:
    env: Any = engine.engine
    env.filters.update(state_label=state_label, when=when, day=day, label=label)
    # Templates ship with the release: no stat of every template file on every render.
    env.auto_reload = False
