"""The work queue and the case page over HTTP: who sees what, and what they may do."""

import re
from collections.abc import Callable

from sqlalchemy import select

from referral.db.tables import Case, User
from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind, Role
from referral.security import hash_password
from referral.services import panel, screening
from referral.services.uow import Runtime
from tests.conftest import TestClock
from tests.e2e.conftest import PASSWORD, Browser
from tests.factories import add_user, hold, schedule, submit, to_awaiting_panel, to_support

Browse = Callable[..., Browser]


def signable_user(
    runtime: Runtime, world: DemoWorld, username: str, kind: OrgKind, *roles: Role
) -> None:
    """Another user of the demo network who can sign in over HTTP."""
    actor = add_user(runtime, world, username, kind, *roles, new_org=True)
    with runtime.session_factory() as session, session.begin():
        user = session.get(User, actor.user_id)
        assert user is not None
        user.password_hash = hash_password(PASSWORD)


def in_screening(world: DemoWorld) -> int:
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    return case_id


def to_consent_pending(world: DemoWorld, runtime: Runtime) -> int:
    meeting_id = schedule(world, runtime)
    case_id = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    hold(world, meeting_id)
    world.run(
        "chair",
        panel.record_panel_decision,
        panel.RecordDecision(case_id, meeting_id, "support", "MARK-DELIBERATION"),
    )
    return case_id


def state_of(runtime: Runtime, case_id: int) -> str:
    with runtime.session_factory() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.state


def version_on_page(html: str) -> str:
    match = re.search(r'name="expected_version" value="(\d+)"', html)
    assert match, "page has no expected_version"
    return match.group(1)


def move_buttons(html: str) -> set[str]:
    return set(re.findall(r'name="trigger" value="([a-z_0-9]+)"', html))


# -- the work queue --------------------------------------------------------------------


def test_queue_lists_open_cases_for_coordinator_and_screener(
    browser: Browse, world: DemoWorld
) -> None:
    case_id = submit(world)
    for who in ("coordinator", "screener"):
        response = browser(who).get("/queue")
        assert response.status_code == 200
        assert f'href="/cases/{case_id}"' in response.text
        assert "MARK-NARRATIVE" not in response.text and "Fixture" not in response.text


def test_queue_refuses_a_referrer_with_a_clear_message(browser: Browse, world: DemoWorld) -> None:
    submit(world)
    response = browser("referrer").get("/queue")
    assert response.status_code == 403
    assert "work queue is for the network" in response.text
    assert "My referrals" in response.text


def test_queue_leaves_out_closed_cases(browser: Browse, world: DemoWorld) -> None:
    closed = in_screening(world)
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(closed, "close_no_action"),
    )
    response = browser("coordinator").get("/queue")
    assert f'href="/cases/{closed}"' not in response.text


def test_queue_marks_overdue_once_the_clock_passes_the_deadline(
    browser: Browse, world: DemoWorld, clock: TestClock
) -> None:
    submit(world)
    before = browser("coordinator").get("/queue").text
    assert 'class="overdue"' not in before and 'tag-overdue">Overdue' not in before
    clock.advance(days=10)
    after = browser("coordinator").get("/queue").text  # a new sign-in: the old one timed out
    assert 'class="overdue"' in after
    assert '<span class="tag tag-overdue">Overdue</span>' in after


def test_queue_marks_a_deadline_within_two_days_as_due_soon(
    browser: Browse, world: DemoWorld, clock: TestClock
) -> None:
    submit(world)  # due five working days later: the next Monday
    clock.advance(days=5)
    response = browser("coordinator").get("/queue")
    assert 'class="due-soon"' in response.text and "Due soon" in response.text
    assert 'tag-overdue">Overdue' not in response.text


def test_queue_filters_by_state_and_htmx_gets_only_the_table(
    browser: Browse, world: DemoWorld
) -> None:
    waiting = submit(world)
    screened = in_screening(world)
    b = browser("screener")
    page = b.get("/queue?state=screening")
    assert f'href="/cases/{screened}"' in page.text
    assert f'href="/cases/{waiting}"' not in page.text
    assert '<option value="screening" selected>' in page.text
    fragment = b.get("/queue?state=submitted", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="queue-table"' in fragment.text
    assert f'href="/cases/{waiting}"' in fragment.text


def test_queue_with_an_unknown_state_is_refused_with_a_message(
    browser: Browse, world: DemoWorld
) -> None:
    response = browser("coordinator").get("/queue?state=nonsense")
    assert response.status_code == 422
    assert "not an open state" in response.text


# -- who may see the case page ---------------------------------------------------------


def test_case_page_shows_the_coordinator_everything_with_history(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    response = browser("coordinator").get(f"/cases/{case_id}")
    assert response.status_code == 200
    for marker in ("MARK-NARRATIVE", "MARK-SPECIAL", "MARK-CRIMINAL", "MARK-ASSESSMENT"):
        assert marker in response.text
    assert "MARK-DELIBERATION" in response.text and "MARK-SUPPORT" in response.text
    assert "History" in response.text
    assert '<td data-label="Action">Start support</td>' in response.text


def test_case_page_is_not_found_for_another_referrer(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = submit(world)
    signable_user(runtime, world, "referrer2", OrgKind.HEALTH, Role.REFERRER)
    response = browser("referrer2").get(f"/cases/{case_id}")
    assert response.status_code == 404
    assert "MARK" not in response.text


def test_case_page_is_not_found_for_a_provider_not_assigned(
    browser: Browse, world: DemoWorld
) -> None:
    case_id = in_screening(world)
    assert browser("provider").get(f"/cases/{case_id}").status_code == 404


def test_case_page_of_an_unknown_case_is_not_found(browser: Browse, world: DemoWorld) -> None:
    assert browser("coordinator").get("/cases/999999").status_code == 404


def test_provider_on_a_supported_case_never_sees_criminal_or_narrative(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    response = browser("provider").get(f"/cases/{case_id}")
    assert response.status_code == 200
    assert "MARK-SUPPORT" in response.text
    for marker in ("MARK-CRIMINAL", "MARK-NARRATIVE", "MARK-ASSESSMENT", "MARK-DELIBERATION"):
        assert marker not in response.text
    assert '<span class="redacted"' in response.text
    assert "History" not in response.text
    assert not move_buttons(response.text)


def test_screener_never_sees_deliberation_or_support(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    response = browser("screener").get(f"/cases/{case_id}")
    assert response.status_code == 200
    assert "MARK-CRIMINAL" in response.text
    assert "MARK-DELIBERATION" not in response.text and "MARK-SUPPORT" not in response.text
    assert "MARK-SPECIAL" not in response.text
    assert "History" not in response.text


def test_referrer_sees_their_own_case_without_special_data_or_history(
    browser: Browse, world: DemoWorld
) -> None:
    case_id = in_screening(world)
    response = browser("referrer").get(f"/cases/{case_id}")
    assert response.status_code == 200
    assert "MARK-NARRATIVE" in response.text
    assert "MARK-SPECIAL" not in response.text
    assert "History" not in response.text and not move_buttons(response.text)


def test_dpo_sees_the_history_but_no_content(browser: Browse, world: DemoWorld) -> None:
    case_id = in_screening(world)
    response = browser("dpo").get(f"/cases/{case_id}")
    assert response.status_code == 200
    assert "History" in response.text
    assert '<td data-label="Action">Start screening</td>' in response.text
    assert "MARK-NARRATIVE" not in response.text and "MARK-SPECIAL" not in response.text


# -- what the page offers --------------------------------------------------------------


def test_only_transitions_the_viewer_may_fire_are_buttons(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    screener = browser("screener").get(f"/cases/{case_id}").text
    assert move_buttons(screener) == set()
    assert "Exit support" not in screener and "Withdraw consent" not in screener
    coordinator = browser("coordinator").get(f"/cases/{case_id}").text
    # exit_support is the panel's decision (case:decide): not the coordinator's button.
    # The bare transfer is no button: the handover form replaces it.
    assert move_buttons(coordinator) == {"start_review"}
    assert "Exit support" not in coordinator


def test_screener_gets_start_screening_and_the_deconfliction_form(
    browser: Browse, world: DemoWorld
) -> None:
    case_id = submit(world)
    html = browser("screener").get(f"/cases/{case_id}").text
    assert move_buttons(html) == {"start_screening"}
    assert f'action="/cases/{case_id}/deconfliction"' in html
    assert "Send requests" not in html and "Request consent" not in html


def test_screener_screening_form_offers_police_referral_but_no_notes(
    browser: Browse, world: DemoWorld
) -> None:
    case_id = in_screening(world)
    screener = browser("screener").get(f"/cases/{case_id}").text
    assert 'value="refer_to_police"' in screener
    assert 'name="screening_notes"' not in screener
    coordinator = browser("coordinator").get(f"/cases/{case_id}").text
    assert 'value="refer_to_police"' not in coordinator
    assert 'name="screening_notes"' in coordinator and 'name="outcome_for_referrer"' in coordinator


# -- posting forms -----------------------------------------------------------------------


def test_screening_outcome_posted_by_the_coordinator_moves_the_case(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = in_screening(world)
    b = browser("coordinator")
    version = version_on_page(b.get(f"/cases/{case_id}").text)
    response = b.post(
        f"/cases/{case_id}/screening",
        {
            "outcome": "gather_information",
            "screening_notes": "Worth a closer look.",
            "outcome_for_referrer": "We are looking into it.",
            "expected_version": version,
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{case_id}?done=screening"
    assert state_of(runtime, case_id) == "information_gathering"
    page = b.get(f"/cases/{case_id}").text
    assert "Gathering information" in page and "Send requests" in page


def test_screening_outcome_without_an_outcome_rerenders_the_form(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = in_screening(world)
    b = browser("coordinator")
    b.get(f"/cases/{case_id}")
    response = b.post(f"/cases/{case_id}/screening", {"screening_notes": "kept"})
    assert response.status_code == 422
    assert "unknown screening outcome" in response.text
    assert 'id="form-screening"' in response.text and ">kept</textarea>" in response.text
    assert state_of(runtime, case_id) == "screening"


def test_post_without_csrf_token_is_refused(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = submit(world)
    b = browser("screener")
    b.get(f"/cases/{case_id}")
    response = b.client.post(
        f"/cases/{case_id}/move", data={"trigger": "start_screening"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert state_of(runtime, case_id) == "submitted"


def test_stale_expected_version_gets_a_conflict_page(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = submit(world)
    b = browser("coordinator")
    version = version_on_page(b.get(f"/cases/{case_id}").text)
    first = b.post(
        f"/cases/{case_id}/move", {"trigger": "start_screening", "expected_version": version}
    )
    assert first.status_code == 303
    stale = b.post(f"/cases/{case_id}/move", {"trigger": "transfer", "expected_version": version})
    assert stale.status_code == 409
    assert "Someone else changed this first" in stale.text
    assert "reload it and try again" in stale.text
    assert state_of(runtime, case_id) == "screening"


def test_move_the_viewer_may_not_make_is_refused(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = in_screening(world)
    b = browser("screener")
    b.get(f"/cases/{case_id}")
    response = b.post(f"/cases/{case_id}/move", {"trigger": "transfer"})
    assert response.status_code == 403
    assert state_of(runtime, case_id) == "screening"


def test_unknown_trigger_is_a_clear_error(browser: Browse, world: DemoWorld) -> None:
    case_id = submit(world)
    b = browser("coordinator")
    b.get(f"/cases/{case_id}")
    response = b.post(f"/cases/{case_id}/move", {"trigger": "fly_away"})
    assert response.status_code == 422
    assert "fly_away" in response.text


def test_screener_records_deconfliction(browser: Browse, world: DemoWorld) -> None:
    case_id = in_screening(world)
    b = browser("screener")
    b.get(f"/cases/{case_id}")
    response = b.post(
        f"/cases/{case_id}/deconfliction",
        {"criminal_information": "MARK-POLICE-NOTE", "deconfliction_result": "no match"},
    )
    assert response.status_code == 303
    assert "MARK-POLICE-NOTE" in b.get(f"/cases/{case_id}").text
    assert "MARK-POLICE-NOTE" not in browser("referrer").get(f"/cases/{case_id}").text


def test_coordinator_sends_a_request_and_records_the_answer(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = in_screening(world)
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, "gather_information"),
    )
    b = browser("coordinator")
    b.get(f"/cases/{case_id}")
    health = str(world.org_ids[OrgKind.HEALTH])
    empty = b.post(f"/cases/{case_id}/information-requests", {"question": "Known to you?"})
    assert empty.status_code == 422 and "choose at least one agency" in empty.text
    sent = b.post(
        f"/cases/{case_id}/information-requests",
        {"organisation_ids": [health], "question": "Known to you?"},
    )
    assert sent.status_code == 303
    page = b.get(f"/cases/{case_id}").text
    match = re.search(rf'action="(/cases/{case_id}/information-requests/\d+/answer)"', page)
    assert match and "Known to you?" in page
    answered = b.post(match.group(1), {"answer": "Nothing on file."})
    assert answered.status_code == 303
    page = b.get(f"/cases/{case_id}").text
    assert "Nothing on file." in page and "ready_for_panel" in move_buttons(page)


def test_answer_to_a_request_of_another_case_is_not_found(
    browser: Browse, world: DemoWorld
) -> None:
    to_awaiting_panel(world)  # request 1 belongs to this case
    other = submit(world)
    b = browser("coordinator")
    b.get(f"/cases/{other}")
    response = b.post(f"/cases/{other}/information-requests/1/answer", {"answer": "x"})
    assert response.status_code == 404


def test_coordinator_runs_consent_through_the_forms(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_consent_pending(world, runtime)
    b = browser("coordinator")
    assert "Request consent" in b.get(f"/cases/{case_id}").text
    assert b.post(f"/cases/{case_id}/consent/request").status_code == 303
    page = b.get(f"/cases/{case_id}").text
    assert 'name="scope" value="identity:civil_society"' in page
    child = b.post(
        f"/cases/{case_id}/consent",
        {
            "answer": "given",
            "method": "in_person",
            "given_by": "subject",
            "scope": ["identity:civil_society"],
        },
    )
    assert child.status_code == 422 and "a parent or guardian must answer" in child.text
    given = b.post(
        f"/cases/{case_id}/consent",
        {
            "answer": "given",
            "method": "in_person",
            "given_by": "guardian",
            "guardian_name": "G",
            "scope": ["identity:civil_society", "concern:civil_society"],
        },
    )
    assert given.status_code == 303
    page = b.get(f"/cases/{case_id}").text
    assert "start_support" in move_buttons(page)
    assert "Identity to civil society, for support" in page


def test_consent_scope_with_an_unknown_choice_is_refused(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_consent_pending(world, runtime)
    b = browser("coordinator")
    b.get(f"/cases/{case_id}")
    b.post(f"/cases/{case_id}/consent/request")
    response = b.post(
        f"/cases/{case_id}/consent",
        {
            "answer": "given",
            "method": "in_person",
            "given_by": "guardian",
            "guardian_name": "G",
            "scope": ["bogus:x"],
        },
    )
    assert response.status_code == 422
    assert "unknown choice" in response.text


def test_coordinator_assigns_an_intervention_and_records_a_review(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    b = browser("coordinator")
    b.get(f"/cases/{case_id}")
    bad = b.post(
        f"/cases/{case_id}/interventions", {"kind": "mentoring", "provider_org_id": "", "plan": "p"}
    )
    assert bad.status_code == 422 and "Choose the organisation that provides it." in bad.text
    assigned = b.post(
        f"/cases/{case_id}/interventions",
        {
            "kind": "family_support",
            "provider_org_id": str(world.org_ids[OrgKind.SOCIAL_CARE]),
            "plan": "MARK-PLAN-2",
        },
    )
    assert assigned.status_code == 303
    reviewed = b.post(f"/cases/{case_id}/reviews", {"kind": "review", "notes": "MARK-REVIEW"})
    assert reviewed.status_code == 303
    page = b.get(f"/cases/{case_id}").text
    assert "MARK-PLAN-2" in page and "MARK-REVIEW" in page


def test_withdrawing_consent_closes_the_case(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    b = browser("coordinator")
    b.get(f"/cases/{case_id}")
    assert b.post(f"/cases/{case_id}/consent/withdraw", {"notes": ""}).status_code == 303
    assert state_of(runtime, case_id) == "closed_consent_withdrawn"
    assert not move_buttons(b.get(f"/cases/{case_id}").text)


def test_withdraw_consent_is_offered_only_once_consent_was_asked(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_consent_pending(world, runtime)
    b = browser("coordinator")
    before = b.get(f"/cases/{case_id}").text
    assert "Withdraw consent and close" not in before
    assert b.post(f"/cases/{case_id}/consent/request").status_code == 303
    asked = b.get(f"/cases/{case_id}").text
    assert "Withdraw consent and close" in asked
    # ... behind a second, deliberate button, as every destructive move.
    assert "Yes, withdraw consent and close" in asked
    assert '<summary class="button button-warning">Withdraw consent and close' in asked


def test_withdrawing_consent_never_asked_is_refused_by_the_service(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_consent_pending(world, runtime)  # the panel decided; consent not asked
    b = browser("coordinator")
    b.get(f"/cases/{case_id}")
    refused = b.post(f"/cases/{case_id}/consent/withdraw", {"notes": "A direct post."})
    assert refused.status_code == 409
    assert "Consent has not been asked for this case yet" in refused.text
    with runtime.session_factory() as session:
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == "consent_pending"
    # Once asked, the same post withdraws it and closes the case.
    assert b.post(f"/cases/{case_id}/consent/request").status_code == 303
    b.get(f"/cases/{case_id}")
    assert b.post(f"/cases/{case_id}/consent/withdraw", {"notes": ""}).status_code == 303
    with runtime.session_factory() as session:
        state = session.scalar(select(Case.state).where(Case.id == case_id))
    assert state == "closed_consent_withdrawn"


def test_no_bare_transfer_and_an_intervention_ends_only_on_a_second_click(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    page = browser("coordinator").get(f"/cases/{case_id}").text
    assert "Transfer to another network" not in page and "transfer" not in move_buttons(page)
    provider = browser("provider").get("/interventions").text
    confirm = re.search(r'<details class="confirm"><summary[^>]*>([^<]+)…</summary>', provider)
    assert confirm is not None, "a destructive move is not behind a confirmation"
    assert f"Yes, {confirm.group(1).lower()}" in provider


def test_every_case_action_ends_on_a_message_naming_the_case_and_what_is_next(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_consent_pending(world, runtime)
    b = browser("coordinator")
    b.get(f"/cases/{case_id}")
    asked = b.post(f"/cases/{case_id}/consent/request")
    assert asked.status_code == 303 and asked.headers["location"].endswith("?done=request_consent")
    page = b.get(asked.headers["location"]).text
    reference = re.search(r"<h1>([^<]+?)\s*(<|$)", page)
    assert reference is not None
    assert f"Consent was asked for: {reference.group(1).strip()}." in page
    assert "Next, it moves on to" in page
    # Only known keys are shown: a forged one adds nothing to the page.
    forged = b.get(f"/cases/{case_id}?done=<b>owned</b>").text
    assert "owned" not in forged and "notice-success" not in forged


def test_htmx_filters_show_progress_with_a_css_only_indicator(
    browser: Browse, world: DemoWorld
) -> None:
    page = browser("coordinator").get("/queue").text
    form = page[page.index('<form class="queue-filter"') :]
    form = form[: form.index("</form>")]
    assert '<span class="htmx-indicator">Loading…</span>' in form
    css = browser("coordinator").get("/static/app.css").text
    assert ".htmx-request .htmx-indicator" in css
