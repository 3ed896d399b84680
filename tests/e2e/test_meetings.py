"""Panel meetings over HTTP: who sees which meeting, what each panel member sees of an
agenda case, contributions, decisions and the coordinator's agenda."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from referral.db.tables import AuditEntry, Network, PanelMeeting, User
from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind, Role
from referral.services import panel
from referral.services.uow import Runtime
from tests.conftest import TestClock
from tests.e2e.conftest import Browser, _hash
from tests.factories import (
    add_user,
    hold,
    reference_of,
    schedule,
    to_awaiting_panel,
    to_information_gathering,
)

Browse = Callable[..., Browser]


def add_login(runtime: Runtime, world: DemoWorld, username: str, kind: OrgKind, role: Role) -> None:
    """A user who can sign in with the demo password."""
    add_user(runtime, world, username, kind, role)
    with runtime.session_factory() as session, session.begin():
        session.execute(update(User).where(User.username == username).values(password_hash=_hash()))


@pytest.fixture
def on_agenda(runtime: Runtime, world: DemoWorld) -> tuple[int, int]:
    """(meeting, case): a meeting tomorrow, police panel member invited, one case on it."""
    add_login(runtime, world, "police_panel", OrgKind.POLICE, Role.PANEL_MEMBER)
    meeting_id = schedule(world, runtime, "police_panel", days=1)
    case_id = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    return meeting_id, case_id


@pytest.fixture
def held_agenda(on_agenda: tuple[int, int], world: DemoWorld, clock: TestClock) -> tuple[int, int]:
    """(meeting, case) as `on_agenda`, on the meeting's day, the meeting marked as held:
    the panel's decisions are recorded now."""
    clock.advance(days=1)
    hold(world, on_agenda[0])
    return on_agenda


@pytest.mark.parametrize("who", ["chair", "panel", "coordinator"])
def test_meetings_list_answers_for_panel_roles(
    browser: Browse, on_agenda: tuple[int, int], who: str
) -> None:
    response = browser(who).get("/meetings")
    assert response.status_code == 200
    assert f"/meetings/{on_agenda[0]}" in response.text


def test_only_the_coordinator_gets_the_schedule_form(
    browser: Browse, on_agenda: tuple[int, int]
) -> None:
    assert "Schedule a meeting" in browser("coordinator").get("/meetings").text
    assert "Schedule a meeting" not in browser("panel").get("/meetings").text


def test_coordinator_schedules_a_meeting(browser: Browse, world: DemoWorld) -> None:
    b = browser("coordinator")
    b.get("/meetings")
    form = {
        "scheduled_for": "2026-03-05T14:30",
        "location": "Room 7",
        "chair_user_id": str(world.actors["chair"].user_id),
        "attendee_user_ids": str(world.actors["panel"].user_id),
    }
    response = b.post("/meetings", form)
    assert response.status_code == 303
    page = b.get(response.headers["location"])
    assert page.status_code == 200 and "Room 7" in page.text and "5 Mar 2026, 14:30" in page.text


def test_scheduling_with_a_bad_time_or_chair_says_why(browser: Browse, world: DemoWorld) -> None:
    b = browser("coordinator")
    b.get("/meetings")
    bad_time = b.post("/meetings", {"scheduled_for": "someday", "chair_user_id": "x"})
    assert bad_time.status_code == 422
    assert "Enter the date and time" in bad_time.text
    not_a_chair = b.post(
        "/meetings",
        {"scheduled_for": "2026-03-05T14:30", "chair_user_id": str(world.actors["dpo"].user_id)},
    )
    assert not_a_chair.status_code == 422
    assert "panel chairs" in not_a_chair.text


def test_meeting_is_not_found_for_an_uninvited_panel_member(
    runtime: Runtime, world: DemoWorld, browser: Browse
) -> None:
    add_login(runtime, world, "other_panel", OrgKind.HEALTH, Role.PANEL_MEMBER)
    meeting_id = schedule(world, runtime)
    assert browser("other_panel").get(f"/meetings/{meeting_id}").status_code == 404
    assert f"/meetings/{meeting_id}" not in browser("other_panel").get("/meetings").text


def test_meeting_is_not_found_for_a_referrer(browser: Browse, on_agenda: tuple[int, int]) -> None:
    assert browser("referrer").get(f"/meetings/{on_agenda[0]}").status_code == 404


def test_health_panel_member_sees_special_data_of_an_agenda_case(
    browser: Browse, on_agenda: tuple[int, int]
) -> None:
    response = browser("panel").get(f"/meetings/{on_agenda[0]}")
    assert response.status_code == 200
    assert "MARK-SPECIAL" in response.text and "MARK-NARRATIVE" in response.text
    assert "MARK-CRIMINAL" not in response.text
    assert 'class="redacted"' in response.text


def test_police_panel_member_sees_criminal_but_not_special_data(
    browser: Browse, on_agenda: tuple[int, int]
) -> None:
    response = browser("police_panel").get(f"/meetings/{on_agenda[0]}")
    assert response.status_code == 200
    assert "MARK-CRIMINAL" in response.text
    assert "MARK-SPECIAL" not in response.text


def test_chair_never_sees_criminal_data_unless_police(
    browser: Browse, on_agenda: tuple[int, int]
) -> None:
    response = browser("chair").get(f"/meetings/{on_agenda[0]}")
    assert response.status_code == 200
    assert "MARK-CRIMINAL" not in response.text and "MARK-SPECIAL" not in response.text


def test_case_data_is_gone_once_the_meeting_window_has_passed(
    browser: Browse, on_agenda: tuple[int, int], clock: TestClock
) -> None:
    meeting_id, case_id = on_agenda
    clock.advance(days=9)
    response = browser("panel").get(f"/meetings/{meeting_id}")
    assert response.status_code == 200
    assert "A case not available to you now" in response.text
    assert f'href="/cases/{case_id}"' not in response.text
    for marker in ("MARK-SPECIAL", "MARK-NARRATIVE", "MARK-ASSESSMENT", "Testy", "Fixture"):
        assert marker not in response.text


def test_chair_records_a_decision_and_the_case_awaits_consent(
    browser: Browse, held_agenda: tuple[int, int]
) -> None:
    meeting_id, case_id = held_agenda
    b = browser("chair")
    page = b.get(f"/meetings/{meeting_id}")
    assert f"/cases/{case_id}/decision" in page.text
    response = b.post(
        f"/meetings/{meeting_id}/cases/{case_id}/decision",
        {"outcome": "support", "rationale": "Mentoring by consensus.", "dissent": ""},
    )
    assert response.status_code == 303
    after = b.get(f"/meetings/{meeting_id}")
    assert "Awaiting consent" in after.text and "Mentoring by consensus." in after.text
    assert f"/cases/{case_id}/decision" not in after.text


def test_panel_member_gets_no_decision_form_and_may_not_decide(
    browser: Browse, held_agenda: tuple[int, int]
) -> None:
    meeting_id, case_id = held_agenda
    b = browser("panel")
    assert f"/cases/{case_id}/decision" not in b.get(f"/meetings/{meeting_id}").text
    response = b.post(
        f"/meetings/{meeting_id}/cases/{case_id}/decision",
        {"outcome": "support", "rationale": "No."},
    )
    assert response.status_code == 403


def test_decision_without_rationale_or_with_unknown_outcome_says_why(
    browser: Browse, on_agenda: tuple[int, int]
) -> None:
    meeting_id, case_id = on_agenda
    b = browser("chair")
    b.get(f"/meetings/{meeting_id}")
    url = f"/meetings/{meeting_id}/cases/{case_id}/decision"
    no_rationale = b.post(url, {"outcome": "support", "rationale": " "})
    assert no_rationale.status_code == 422 and "record the rationale" in no_rationale.text
    unknown = b.post(url, {"outcome": "banish", "rationale": "Because."})
    assert unknown.status_code == 422 and "unknown decision" in unknown.text


def test_contribution_by_a_panel_member_appears(
    browser: Browse, on_agenda: tuple[int, int]
) -> None:
    meeting_id, case_id = on_agenda
    b = browser("panel")
    b.get(f"/meetings/{meeting_id}")
    url = f"/meetings/{meeting_id}/cases/{case_id}/contributions"
    response = b.post(url, {"body": "Health knows of MARK-CONTRIB."})
    assert response.status_code == 303
    assert "MARK-CONTRIB" in b.get(f"/meetings/{meeting_id}").text
    assert "MARK-CONTRIB" in browser("police_panel").get(f"/meetings/{meeting_id}").text


def test_empty_contribution_is_refused_with_its_message(
    browser: Browse, on_agenda: tuple[int, int]
) -> None:
    meeting_id, case_id = on_agenda
    b = browser("panel")
    b.get(f"/meetings/{meeting_id}")
    response = b.post(f"/meetings/{meeting_id}/cases/{case_id}/contributions", {"body": "  "})
    assert response.status_code == 422 and "write the contribution" in response.text


def test_post_without_csrf_token_is_refused(browser: Browse, on_agenda: tuple[int, int]) -> None:
    meeting_id, case_id = on_agenda
    b = browser("panel")
    url = f"/meetings/{meeting_id}/cases/{case_id}/contributions"
    assert b.client.post(url, data={"body": "x"}).status_code == 403
    assert b.client.post(url, data={"body": "x", "_csrf": "forged"}).status_code == 403


def test_coordinator_adds_an_awaiting_case_to_the_agenda(
    browser: Browse, runtime: Runtime, world: DemoWorld
) -> None:
    meeting_id = schedule(world, runtime)
    case_id = to_awaiting_panel(world)
    b = browser("coordinator")
    page = b.get(f"/meetings/{meeting_id}")
    assert f'id="agenda-{case_id}"' in page.text
    response = b.post(f"/meetings/{meeting_id}/agenda", {"case_ids": str(case_id)})
    assert response.status_code == 303
    after = b.get(f"/meetings/{meeting_id}")
    assert f'id="case-{case_id}"' in after.text and "At panel" in after.text
    assert f'id="agenda-{case_id}"' not in after.text


def test_empty_agenda_choice_is_refused(
    browser: Browse, runtime: Runtime, world: DemoWorld
) -> None:
    meeting_id = schedule(world, runtime)
    b = browser("coordinator")
    b.get(f"/meetings/{meeting_id}")
    response = b.post(f"/meetings/{meeting_id}/agenda", {})
    assert response.status_code == 422


def test_a_meeting_is_not_held_before_its_day(
    browser: Browse, on_agenda: tuple[int, int], clock: TestClock
) -> None:
    meeting_id, _ = on_agenda
    b = browser("coordinator")
    assert 'value="hold"' not in b.get(f"/meetings/{meeting_id}").text
    early = b.post(f"/meetings/{meeting_id}/move", {"trigger": "hold"})
    assert early.status_code == 409
    assert "mark it as held on or after that day" in early.text
    clock.advance(days=1)
    assert 'value="hold"' in browser("coordinator").get(f"/meetings/{meeting_id}").text


def test_coordinator_holds_the_meeting_and_approves_its_minutes(
    browser: Browse, on_agenda: tuple[int, int], clock: TestClock
) -> None:
    meeting_id, _ = on_agenda
    clock.advance(days=1)  # its day
    b = browser("coordinator")
    b.get(f"/meetings/{meeting_id}")
    assert b.post(f"/meetings/{meeting_id}/move", {"trigger": "hold"}).status_code == 303
    page = b.get(f"/meetings/{meeting_id}")
    assert 'name="minutes"' in page.text
    response = b.post(
        f"/meetings/{meeting_id}/move", {"trigger": "approve_minutes", "minutes": "MARK-MINUTES"}
    )
    assert response.status_code == 303
    after = b.get(f"/meetings/{meeting_id}")
    assert "Minutes approved" in after.text and "MARK-MINUTES" in after.text


def test_minutes_are_not_approved_empty(
    browser: Browse, on_agenda: tuple[int, int], clock: TestClock
) -> None:
    meeting_id, _ = on_agenda
    clock.advance(days=1)
    b = browser("coordinator")
    b.get(f"/meetings/{meeting_id}")
    b.post(f"/meetings/{meeting_id}/move", {"trigger": "hold"})
    response = b.post(f"/meetings/{meeting_id}/move", {"trigger": "approve_minutes"})
    assert response.status_code == 409


def test_unknown_meeting_action_is_refused(browser: Browse, on_agenda: tuple[int, int]) -> None:
    meeting_id, _ = on_agenda
    b = browser("coordinator")
    b.get(f"/meetings/{meeting_id}")
    assert b.post(f"/meetings/{meeting_id}/move", {"trigger": "explode"}).status_code == 422


def test_panel_member_may_not_cancel_a_meeting(browser: Browse, on_agenda: tuple[int, int]) -> None:
    meeting_id, _ = on_agenda
    b = browser("panel")
    page = b.get(f"/meetings/{meeting_id}")
    assert "Cancel the meeting" not in page.text
    assert b.post(f"/meetings/{meeting_id}/move", {"trigger": "cancel"}).status_code == 403


def test_reading_the_agenda_is_audited_per_case(
    runtime: Runtime, world: DemoWorld, browser: Browse, on_agenda: tuple[int, int]
) -> None:
    meeting_id, case_id = on_agenda
    browser("panel").get(f"/meetings/{meeting_id}")
    with runtime.session_factory() as session:
        reads = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "case:read",
                AuditEntry.case_id == case_id,
                AuditEntry.actor_user_id == world.actors["panel"].user_id,
            )
        ).all()
    assert reads and all(r.allowed and r.purpose == "panel" for r in reads)
    assert "special" in reads[-1].categories and "criminal" not in reads[-1].categories


def test_meetings_list_is_not_for_referrers(browser: Browse) -> None:
    assert browser("referrer").get("/meetings").status_code == 403


def test_form_error_page_keeps_what_was_written(
    browser: Browse, on_agenda: tuple[int, int]
) -> None:
    meeting_id, case_id = on_agenda
    b = browser("chair")
    b.get(f"/meetings/{meeting_id}")
    response = b.post(
        f"/meetings/{meeting_id}/cases/{case_id}/decision",
        {"outcome": "support", "rationale": "", "dissent": "Kept dissent."},
    )
    assert response.status_code == 422
    assert "Kept dissent." in response.text and 'value="support" checked' in response.text


def test_once_decided_a_case_offers_no_contribution_form_and_refuses_one(
    browser: Browse, held_agenda: tuple[int, int]
) -> None:
    meeting_id, case_id = held_agenda
    form = f"/meetings/{meeting_id}/cases/{case_id}/contributions"
    b = browser("panel")
    assert form in b.get(f"/meetings/{meeting_id}").text
    decided = browser("chair").post(
        f"/meetings/{meeting_id}/cases/{case_id}/decision",
        {"outcome": "support", "rationale": "Mentoring by consensus.", "dissent": ""},
    )
    assert decided.status_code == 303
    page = b.get(f"/meetings/{meeting_id}")
    assert "Awaiting consent" in page.text and form not in page.text
    late = b.post(form, {"body": "Too late."})
    assert late.status_code == 409
    assert "a case in Awaiting consent cannot take a panel contribution" in late.text


def test_only_cases_waiting_for_a_panel_are_offered_for_the_agenda(
    browser: Browse, runtime: Runtime, world: DemoWorld
) -> None:
    meeting_id = schedule(world, runtime)
    waiting = to_awaiting_panel(world)
    gathering = to_information_gathering(world)
    page = browser("coordinator").get(f"/meetings/{meeting_id}").text
    assert f'id="agenda-{waiting}"' in page
    assert f'id="agenda-{gathering}"' not in page


def test_an_agenda_item_names_its_case_by_reference_and_links_to_its_page(
    browser: Browse, on_agenda: tuple[int, int], world: DemoWorld
) -> None:
    meeting_id, case_id = on_agenda
    panel = browser("panel")
    page = panel.get(f"/meetings/{meeting_id}").text
    assert reference_of(world.runtime, case_id) in page
    assert f'<a class="agenda-case-link" href="/cases/{case_id}">' in page
    assert '<details class="agenda-details">' in page  # folded until opened
    assert panel.get(f"/cases/{case_id}").status_code == 200


def test_no_contribution_once_the_minutes_are_approved(
    browser: Browse, on_agenda: tuple[int, int], clock: TestClock
) -> None:
    meeting_id, case_id = on_agenda
    form = f"/meetings/{meeting_id}/cases/{case_id}/contributions"
    assert form in browser("panel").get(f"/meetings/{meeting_id}").text
    clock.advance(days=1)
    c = browser("coordinator")
    c.get(f"/meetings/{meeting_id}")
    assert c.post(f"/meetings/{meeting_id}/move", {"trigger": "hold"}).status_code == 303
    approved = c.post(
        f"/meetings/{meeting_id}/move", {"trigger": "approve_minutes", "minutes": "Noted."}
    )
    assert approved.status_code == 303
    b = browser("panel")
    assert form not in b.get(f"/meetings/{meeting_id}").text
    late = b.post(form, {"body": "Too late."})
    assert late.status_code == 409 and "minutes are approved" in late.text


def test_meeting_actions_end_on_a_message(browser: Browse, on_agenda: tuple[int, int]) -> None:
    meeting_id, case_id = on_agenda
    b = browser("panel")
    b.get(f"/meetings/{meeting_id}")
    url = f"/meetings/{meeting_id}/cases/{case_id}/contributions"
    added = b.post(url, {"body": "Known to us."})
    assert added.headers["location"] == f"/meetings/{meeting_id}?done=contribution#case-{case_id}"
    page = b.get(added.headers["location"]).text
    assert "Your contribution was added: the panel meeting of" in page


def test_the_meetings_landing_page_calls_the_chair_to_the_next_panel(
    browser: Browse, on_agenda: tuple[int, int]
) -> None:
    meeting_id, _ = on_agenda
    page = browser("chair").get("/meetings").text
    assert 'class="call-to-act"' in page and f'href="/meetings/{meeting_id}"' in page
    assert "1 case to read and decide" in page


def test_no_decision_before_the_meeting_is_held(
    browser: Browse, world: DemoWorld, on_agenda: tuple[int, int], clock: TestClock
) -> None:
    meeting_id, case_id = on_agenda  # tomorrow's meeting, not held
    chair = browser("chair")
    page = chair.get(f"/meetings/{meeting_id}").text
    assert f"/cases/{case_id}/decision" not in page
    assert "can be recorded once the meeting has been marked as held" in page
    refused = chair.post(
        f"/meetings/{meeting_id}/cases/{case_id}/decision",
        {"outcome": "support", "rationale": "Too early."},
    )
    assert refused.status_code == 409
    assert "The meeting has not been held yet" in refused.text
    clock.advance(days=1)  # its day: the chair marks it as held, then decides
    hold(world, meeting_id)
    held = browser("chair").get(f"/meetings/{meeting_id}").text
    assert f"/cases/{case_id}/decision" in held
    assert "once the meeting has been marked as held" not in held


def test_the_agenda_picker_and_the_agenda_link_to_their_cases(
    browser: Browse, runtime: Runtime, world: DemoWorld
) -> None:
    meeting_id = schedule(world, runtime)
    waiting, on_it = to_awaiting_panel(world), to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (on_it,)))
    page = browser("coordinator").get(f"/meetings/{meeting_id}").text
    reference = reference_of(runtime, waiting)
    assert f'href="/cases/{waiting}">Open {reference}</a>' in page
    assert f'href="/cases/{on_it}">{reference_of(runtime, on_it)}</a>' in page


def _in_zone(runtime: Runtime, zone: str) -> None:
    with runtime.session_factory() as session, session.begin():
        session.execute(update(Network).values(time_zone=zone))


def test_a_meeting_is_entered_and_shown_in_the_networks_local_time(
    browser: Browse, runtime: Runtime, world: DemoWorld
) -> None:
    _in_zone(runtime, "America/New_York")
    b = browser("coordinator")
    form = b.get("/meetings").text
    assert "In the network&#39;s time zone, America/New_York." in form or (
        "In the network's time zone, America/New_York." in form
    )
    chair, panel_member = world.actors["chair"].user_id, world.actors["panel"].user_id
    response = b.post(
        "/meetings",
        {"scheduled_for": "2026-03-10T18:00", "chair_user_id": str(chair),
         "attendee_user_ids": str(panel_member)},
    )  # fmt: skip
    assert response.status_code == 303, response.text
    with runtime.session_factory() as session:
        stored = session.scalars(select(PanelMeeting.scheduled_for)).one()
    assert stored == datetime(2026, 3, 10, 22, 0, tzinfo=UTC)  # EDT (UTC-4) from 8 March
    shown = b.get(response.headers["location"]).text
    assert "10 Mar 2026, 18:00 (America/New_York)" in shown
    listed = b.get("/meetings").text
    assert "When (America/New_York)" in listed and "10 Mar 2026, 18:00" in listed


def test_a_local_time_the_clocks_skip_is_refused_in_words(
    browser: Browse, runtime: Runtime, world: DemoWorld
) -> None:
    _in_zone(runtime, "America/New_York")
    b = browser("coordinator")
    b.get("/meetings")
    response = b.post(
        "/meetings",
        {"scheduled_for": "2026-03-08T02:30", "chair_user_id": str(world.actors["chair"].user_id)},
    )
    assert response.status_code == 422
    assert "does not exist in America/New_York" in response.text
    with runtime.session_factory() as session:
        assert session.scalars(select(PanelMeeting.id)).first() is None
