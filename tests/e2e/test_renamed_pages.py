"""The pages on a referral workflow whose every state and trigger is renamed (issue 11,
item 1): they speak the file's labels, offer the file's buttons and outcomes, and a
button moves the case, without one shipped name in Python or a template."""

import re
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from referral.config import Settings
from referral.db.tables import Case
from referral.services import panel
from referral.services.uow import Runtime
from referral.web.app import create_app
from tests.e2e.conftest import Browser
from tests.factories import hold, make_world, schedule, submit
from tests.renaming import PREFIX, renamed_awaiting_panel, renamed_name, use_renamed_workflows


def _signed_in(runtime: Runtime, username: str) -> Browser:
    # An app of its own: the pages' state labels come from the workflows it starts with.
    app = create_app(Settings(cookie_secure=True), runtime)
    client = TestClient(app, base_url="https://testserver.local", raise_server_exceptions=False)
    browser = Browser(client)
    assert browser.login(username).status_code == 303
    return browser


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture
def renamed(runtime: Runtime, tmp_path: Path) -> Runtime:
    return use_renamed_workflows(runtime, tmp_path)


def test_the_case_page_speaks_the_files_words_and_its_buttons_move(renamed: Runtime) -> None:
    world = make_world(renamed)
    case_id = submit(world)
    coordinator = _signed_in(renamed, "coordinator")

    submitted = coordinator.get(f"/cases/{case_id}")
    assert submitted.status_code == 200
    assert "Start screening" in submitted.text
    assert PREFIX not in _text(submitted.text)  # names are for files; people read labels
    trigger = renamed_name("start_screening")
    assert f'name="trigger" value="{trigger}"' in submitted.text

    moved = coordinator.post(f"/cases/{case_id}/move", {"trigger": trigger})
    assert moved.status_code == 303, moved.text
    with renamed.session_factory() as session:
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == renamed_name(
            "screening"
        )

    screening_page = coordinator.get(f"/cases/{case_id}")
    assert "Gather information from partner agencies" in screening_page.text
    assert f'value="{renamed_name("gather_information")}"' in screening_page.text
    assert PREFIX not in _text(screening_page.text)
    posted = coordinator.post(
        f"/cases/{case_id}/screening",
        {"outcome": renamed_name("close_no_action"), "screening_notes": "Low."},
    )
    assert posted.status_code == 303, posted.text
    closed = coordinator.get(f"/cases/{case_id}")
    assert "Closed: no further action" in closed.text


def test_the_meeting_page_offers_the_files_outcomes_and_records_one(renamed: Runtime) -> None:
    world = make_world(renamed)
    case_id = renamed_awaiting_panel(world)
    meeting_id = schedule(world, renamed)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    hold(world, meeting_id)  # decisions are recorded once the meeting is held
    chair = _signed_in(renamed, "chair")

    meeting = chair.get(f"/meetings/{meeting_id}")
    assert meeting.status_code == 200
    for label in ("Offer support (ask for consent)", "Signpost to another service"):
        assert label in meeting.text
    assert PREFIX not in _text(meeting.text)
    decided = chair.post(
        f"/meetings/{meeting_id}/cases/{case_id}/decision",
        {"outcome": "support", "rationale": "Consensus."},
    )
    assert decided.status_code == 303, decided.text
    with renamed.session_factory() as session:
        state = session.scalar(select(Case.state).where(Case.id == case_id))
    assert state == renamed_name("consent_pending")
