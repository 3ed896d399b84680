"""The provider's pages over HTTP: only their organisation's interventions, only what the
support plan needs, their moves and progress notes."""

from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from referral.db.tables import AuditEntry, User
from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind, Role
from referral.services import support
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser, _hash
from tests.factories import add_user, schedule, to_consent_pending, to_support

Browse = Callable[..., Browser]
NEVER_FOR_PROVIDER = (
    "MARK-CRIMINAL",
    "MARK-NARRATIVE",
    "MARK-ASSESSMENT",
    "MARK-DELIBERATION",
    "MARK-SPECIAL",  # the demo's consent does not cover special-category data
)


def assign(world: DemoWorld, case_id: int, kind: OrgKind, plan: str) -> int:
    command = support.AssignIntervention(case_id, "mentoring", world.org_ids[kind], plan)
    return int(world.run("coordinator", support.assign_intervention, command))


@pytest.fixture
def in_support(runtime: Runtime, world: DemoWorld) -> tuple[int, int]:
    """(case, intervention): an active mentoring intervention by the civil-society provider."""
    return to_support(world, schedule(world, runtime))


def test_provider_list_shows_only_their_organisations_interventions(
    browser: Browse, world: DemoWorld, in_support: tuple[int, int]
) -> None:
    case_id, intervention_id = in_support
    assign(world, case_id, OrgKind.YOUTH, "MARK-OTHER-PLAN")
    response = browser("provider").get("/interventions")
    assert response.status_code == 200
    assert f"/interventions/{intervention_id}" in response.text
    assert "MARK-SUPPORT" in response.text
    assert "MARK-OTHER-PLAN" not in response.text


def test_provider_does_not_see_an_intervention_before_consent(
    browser: Browse, runtime: Runtime, world: DemoWorld
) -> None:
    # Support decided, consent not yet asked: the workflow lets the plan be made already.
    case_id = to_consent_pending(world, schedule(world, runtime))
    intervention_id = assign(world, case_id, OrgKind.CIVIL_SOCIETY, "MARK-NO-CONSENT")
    b = browser("provider")
    assert "MARK-NO-CONSENT" not in b.get("/interventions").text
    assert b.get(f"/interventions/{intervention_id}").status_code == 404


def test_provider_never_sees_hidden_categories(
    browser: Browse, in_support: tuple[int, int]
) -> None:
    _, intervention_id = in_support
    b = browser("provider")
    for url in ("/interventions", f"/interventions/{intervention_id}"):
        response = b.get(url)
        assert response.status_code == 200
        for marker in NEVER_FOR_PROVIDER:
            assert marker not in response.text, f"{marker} on {url}"


def test_intervention_page_shows_plan_person_and_consent_scope(
    browser: Browse, in_support: tuple[int, int]
) -> None:
    _, intervention_id = in_support
    response = browser("provider").get(f"/interventions/{intervention_id}")
    assert response.status_code == 200
    assert "MARK-SUPPORT" in response.text and "Testy" in response.text
    assert "Identity to civil society, for support" in response.text
    assert 'class="redacted"' in response.text


def test_another_provider_gets_not_found(
    runtime: Runtime, world: DemoWorld, browser: Browse, in_support: tuple[int, int]
) -> None:
    _, intervention_id = in_support
    add_user(runtime, world, "youth_provider", OrgKind.YOUTH, Role.PROVIDER, new_org=True)
    with runtime.session_factory() as session, session.begin():
        session.execute(
            update(User).where(User.username == "youth_provider").values(password_hash=_hash())
        )
    b = browser("youth_provider")
    assert b.get(f"/interventions/{intervention_id}").status_code == 404
    listing = b.get("/interventions")
    assert listing.status_code == 200 and "MARK-SUPPORT" not in listing.text
    assert b.post(f"/interventions/{intervention_id}/progress", {"body": "x"}).status_code == 404


def test_progress_posted_appears(browser: Browse, in_support: tuple[int, int]) -> None:
    _, intervention_id = in_support
    b = browser("provider")
    assert f'action="/interventions/{intervention_id}/progress"' in b.get("/interventions").text
    response = b.post(f"/interventions/{intervention_id}/progress", {"body": "MARK-PROGRESS"})
    assert response.status_code == 303
    assert "MARK-PROGRESS" in b.get(f"/interventions/{intervention_id}").text


def test_empty_progress_note_is_refused_with_its_message(
    browser: Browse, in_support: tuple[int, int]
) -> None:
    _, intervention_id = in_support
    b = browser("provider")
    b.get(f"/interventions/{intervention_id}")
    response = b.post(f"/interventions/{intervention_id}/progress", {"body": " "})
    assert response.status_code == 422 and "write the progress note" in response.text


def test_provider_accepts_starts_and_completes_an_intervention(
    browser: Browse, world: DemoWorld, in_support: tuple[int, int]
) -> None:
    case_id, _ = in_support
    intervention_id = assign(world, case_id, OrgKind.CIVIL_SOCIETY, "MARK-SECOND-PLAN")
    b = browser("provider")
    listing = b.get("/interventions")
    assert 'value="accept"' in listing.text and 'value="decline"' in listing.text
    url = f"/interventions/{intervention_id}/move"
    response = b.post(url, {"trigger": "accept", "back": "list"})
    assert response.headers["location"] == "/interventions?done=moved"
    assert "The intervention was updated" in b.get(response.headers["location"]).text
    started = b.post(url, {"trigger": "start"})
    assert started.headers["location"] == f"/interventions/{intervention_id}?done=moved"
    assert "Mentoring on case" in b.get(started.headers["location"]).text
    page = b.get(f"/interventions/{intervention_id}")
    assert "Active" in page.text and 'name="body"' in page.text
    assert b.post(url, {"trigger": "complete"}).status_code == 303
    done = b.get(f"/interventions/{intervention_id}")
    assert "Completed" in done.text and 'name="body"' not in done.text


def test_provider_may_not_withdraw_or_fire_unknown_moves(
    browser: Browse, in_support: tuple[int, int]
) -> None:
    _, intervention_id = in_support
    b = browser("provider")
    b.get(f"/interventions/{intervention_id}")
    url = f"/interventions/{intervention_id}/move"
    assert b.post(url, {"trigger": "withdraw"}).status_code == 403
    assert b.post(url, {"trigger": "teleport"}).status_code == 422
    assert b.post(url, {"trigger": "accept"}).status_code == 409


def test_post_without_csrf_token_is_refused(browser: Browse, in_support: tuple[int, int]) -> None:
    _, intervention_id = in_support
    b = browser("provider")
    url = f"/interventions/{intervention_id}/progress"
    assert b.client.post(url, data={"body": "x"}).status_code == 403
    assert b.client.post(url, data={"body": "x", "_csrf": "forged"}).status_code == 403


def test_other_roles_see_no_interventions_and_no_intervention_page(
    browser: Browse, in_support: tuple[int, int]
) -> None:
    _, intervention_id = in_support
    b = browser("referrer")
    assert "MARK-SUPPORT" not in b.get("/interventions").text
    assert b.get(f"/interventions/{intervention_id}").status_code == 404


def test_the_provider_list_read_is_audited_per_case(
    runtime: Runtime, world: DemoWorld, browser: Browse, in_support: tuple[int, int]
) -> None:
    case_id, _ = in_support
    browser("provider").get("/interventions")
    with runtime.session_factory() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "intervention:list",
                AuditEntry.actor_user_id == world.actors["provider"].user_id,
            )
        ).one()
    assert entry.case_id == case_id and entry.categories == "support" and entry.allowed


def test_another_organisations_intervention_on_the_providers_case_is_not_found(
    browser: Browse, world: DemoWorld, in_support: tuple[int, int]
) -> None:
    """The provider works on the case; the private-sector organisation's intervention on it
    is out of their scope: every page and form answers 404, before any input or state."""
    case_id, _ = in_support
    theirs = assign(world, case_id, OrgKind.PRIVATE_SECTOR, "MARK-OTHER-PLAN")
    b = browser("provider")
    assert b.get(f"/interventions/{theirs}").status_code == 404
    for trigger in ("accept", "start", "complete", "teleport"):
        response = b.post(f"/interventions/{theirs}/move", {"trigger": trigger})
        assert response.status_code == 404, trigger
    for body in ("A note.", " "):
        assert b.post(f"/interventions/{theirs}/progress", {"body": body}).status_code == 404
    assert "MARK-OTHER-PLAN" not in b.get("/interventions").text


def test_the_provider_landing_page_calls_them_to_act(
    browser: Browse, world: DemoWorld, in_support: tuple[int, int]
) -> None:
    case_id, _ = in_support
    assign(world, case_id, OrgKind.CIVIL_SOCIETY, "MARK-WAITING")
    page = browser("provider").get("/interventions").text
    assert 'class="call-to-act"' in page and "wait for you" in page
