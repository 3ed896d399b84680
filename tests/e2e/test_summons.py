"""Officials summoned to one meeting, over HTTP: the chair's form, the official's landing
page and entry into the meeting's network, what they see there and what answers 404."""

from collections.abc import Callable

import pytest
from sqlalchemy import select

from referral.config import Settings
from referral.db.tables import AuditEntry, WebSession
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role
from referral.services import auth, panel
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TestClock
from tests.e2e.conftest import Browser, _hash
from tests.factories import add_network_user, schedule, to_awaiting_panel

Browse = Callable[..., Browser]
WHY = "Harbour police hold an earlier referral."


@pytest.fixture
def agenda(runtime: Runtime, world: DemoWorld) -> tuple[int, int, int]:
    """(meeting, case, other meeting): a meeting later today with a case on its agenda."""
    meeting_id = schedule(world, runtime, days=0.01)  # today: it may be held
    case_id = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    return meeting_id, case_id, schedule(world, runtime, days=2)


@pytest.fixture
def official(runtime: Runtime) -> Actor:
    """A police officer of another city's network, who can sign in there."""
    return add_network_user(
        runtime, "harbour", "harbour_police", OrgKind.POLICE, Role.PANEL_MEMBER,
        password_hash=_hash(),
    )  # fmt: skip


def _summon(browser: Browse, meeting_id: int, **form: str) -> object:
    chair = browser("chair")
    chair.get(f"/meetings/{meeting_id}")
    return chair.post(
        f"/meetings/{meeting_id}/summons", {"username": "harbour_police", "reason": WHY, **form}
    )


def _enter(browser: Browse) -> tuple[Browser, str]:
    """The official signs in, lands on their invitations and opens the meeting."""
    b = browser("harbour_police")
    assert b.client.get("/", follow_redirects=False).headers["location"] == "/invitations"
    landing = b.get("/invitations")
    assert landing.status_code == 200 and "Open meeting" in landing.text
    action = landing.text.split('action="/invitations/')[1].split('"')[0]
    entered = b.post(f"/invitations/{action}")
    assert entered.status_code == 303
    return b, entered.headers["location"]


def test_the_chair_summons_and_the_official_sees_the_agenda_as_police_may(
    browser: Browse, agenda: tuple[int, int, int], official: Actor
) -> None:
    meeting_id, case_id, _ = agenda
    response = _summon(browser, meeting_id)
    assert response.status_code == 303  # type: ignore[attr-defined]
    chair_page = browser("chair").get(f"/meetings/{meeting_id}")
    assert "harbour_police (Harbour police)" in chair_page.text
    b, location = _enter(browser)
    assert location == f"/meetings/{meeting_id}"
    page = b.get(location)
    assert page.status_code == 200 and "Synthetic concern for a test." in page.text
    # The summons opens the meeting's agenda, not the case's own page: no link to it.
    assert f'href="/cases/{case_id}"' not in page.text
    assert b.get(f"/cases/{case_id}").status_code == 404
    assert "MARK-CRIMINAL" in page.text and "Synthetic concern for a test." in page.text
    assert "MARK-SPECIAL" not in page.text
    assert "Add to the agenda" not in page.text and 'name="trigger"' not in page.text
    assert 'href="/invitations">My invitations' in page.text  # their way back
    assert 'href="/queue"' not in page.text


def test_everything_but_that_meeting_answers_not_found_to_the_official(
    browser: Browse, agenda: tuple[int, int, int], official: Actor
) -> None:
    meeting_id, case_id, other_meeting = agenda
    _summon(browser, meeting_id)
    b, _ = _enter(browser)
    for path in (
        f"/cases/{case_id}",
        f"/cases/{case_id}/history",
        f"/meetings/{other_meeting}",
        "/queue",
    ):
        assert b.get(path).status_code == 404, path


def test_entering_moves_the_session_to_the_meetings_network_and_is_audited(
    browser: Browse, runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int],
    official: Actor,
) -> None:  # fmt: skip
    meeting_id = agenda[0]
    _summon(browser, meeting_id)
    _enter(browser)
    with runtime.session_factory() as session:
        networks = session.scalars(
            select(WebSession.network_id).where(WebSession.user_id == official.user_id)
        ).all()
        entered = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "meeting:summons_entered")
        ).all()
    assert networks == [world.actors["coordinator"].network_id]
    assert [(e.actor_user_id, e.target) for e in entered] == [
        (official.user_id, f"meeting:{meeting_id}")
    ]


def test_after_the_minutes_are_approved_the_meeting_is_gone_and_the_landing_page_says_why(
    browser: Browse, world: DemoWorld, agenda: tuple[int, int, int], official: Actor
) -> None:
    meeting_id, case_id, _ = agenda
    _summon(browser, meeting_id)
    b, location = _enter(browser)
    assert b.get(location).status_code == 200
    world.run("coordinator", panel.move_meeting, panel.MoveMeeting(meeting_id, "hold"))
    world.run(
        "chair",
        panel.record_panel_decision,
        panel.RecordDecision(case_id, meeting_id, "support", "Agreed."),
    )
    world.run(
        "coordinator",
        panel.move_meeting,
        panel.MoveMeeting(meeting_id, "approve_minutes", minutes="Supported."),
    )
    gone = b.get(location)
    assert gone.status_code == 404
    assert b.client.get("/", follow_redirects=False).headers["location"] == "/invitations"
    landing = b.get("/invitations")
    assert "Your invitation has ended: the minutes of the meeting were approved" in landing.text
    assert "Open meeting" not in landing.text


def test_after_the_window_the_meeting_is_gone(
    browser: Browse, agenda: tuple[int, int, int], official: Actor, clock: TestClock
) -> None:
    meeting_id = agenda[0]
    _summon(browser, meeting_id, window_end="2026-03-02T09:10")  # the clock is 09:00
    b, location = _enter(browser)
    assert b.get(location).status_code == 200
    clock.advance(minutes=11)  # within the session's idle time
    assert b.get(location).status_code == 404
    assert "its time window has passed" in b.get("/invitations").text


def test_summoning_to_a_held_meeting_is_a_conflict(
    browser: Browse, world: DemoWorld, agenda: tuple[int, int, int], official: Actor
) -> None:
    meeting_id = agenda[0]
    world.run("coordinator", panel.move_meeting, panel.MoveMeeting(meeting_id, "hold"))
    response = _summon(browser, meeting_id)
    assert response.status_code == 409  # type: ignore[attr-defined]
    assert "before it is held" in response.text  # type: ignore[attr-defined]


def test_an_unknown_username_is_named_beside_the_form(
    browser: Browse, agenda: tuple[int, int, int]
) -> None:
    response = _summon(browser, agenda[0])  # no such user: the fixture `official` not used
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "No active user has that username." in response.text  # type: ignore[attr-defined]


def test_a_bad_window_is_named_beside_the_form(
    browser: Browse, agenda: tuple[int, int, int], official: Actor
) -> None:
    response = _summon(browser, agenda[0], window_end="next week")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "Enter a date and time in UTC." in response.text  # type: ignore[attr-defined]


def test_a_panel_member_may_not_summon_and_a_referrer_finds_no_meeting(
    browser: Browse, agenda: tuple[int, int, int], official: Actor
) -> None:
    meeting_id = agenda[0]
    member = browser("panel")
    page = member.get(f"/meetings/{meeting_id}")
    assert "Summon" not in page.text
    form = {"username": "harbour_police", "reason": WHY}
    assert member.post(f"/meetings/{meeting_id}/summons", form).status_code == 403
    referrer = browser("referrer")
    referrer.get("/account")
    assert referrer.post(f"/meetings/{meeting_id}/summons", form).status_code == 404


def test_someone_else_cannot_enter_an_officials_invitation(
    browser: Browse, agenda: tuple[int, int, int], official: Actor
) -> None:
    _summon(browser, agenda[0])
    b = browser("referrer")
    b.get("/invitations")
    assert b.post("/invitations/1/enter").status_code == 404


def test_through_the_api_the_official_reaches_no_case_and_contributes_nothing(
    browser: Browse,
    runtime: Runtime,
    world: DemoWorld,
    agenda: tuple[int, int, int],
    official: Actor,
    app_settings: Settings,
) -> None:
    meeting_id, case_id, _ = agenda
    _summon(browser, meeting_id)
    with UnitOfWork(runtime) as uow:
        actor = uow.repo.actor_in(official.user_id, world.actors["chair"].network_id)
        assert actor is not None and actor.roles == {Role.INVITED_OFFICIAL}
        token = auth.issue_api_token(uow, actor, auth.IssueToken("official"), app_settings)
    client = browser().client
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/cases/{case_id}", headers=headers).status_code == 404
    contribution = client.post(
        f"/api/meetings/{meeting_id}/cases/{case_id}/contributions",
        json={"body": "From the harbour."},
        headers=headers,
    )
    assert contribution.status_code == 404
