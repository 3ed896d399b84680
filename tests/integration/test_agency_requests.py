"""Partner agencies answer for themselves: an asked organisation's agency contact is told of
the request, sees its question, its deadline and the case's status only, and answers it;
another organisation's request is not theirs to see (404). A screener is offered and
allowed only the requests addressed to their own organisation. An assignment tells the
provider's organisation; the panel's decision on support reaches the referrer in words."""

import pytest
from sqlalchemy import select

from referral.db.tables import AuditEntry, InformationRequest, Notification, User
from referral.demo import DemoWorld
from referral.domain.errors import NotFound, PermissionDenied
from referral.domain.vocabulary import Category, OrgKind, Role
from referral.services import actions, information, notifications, referrals, screening
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import add_user, make_world, reference_of, schedule, submit, to_support

QUESTION = "MARK-QUESTION: is the person known to your service?"


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    world = make_world(runtime)
    add_user(runtime, world, "police_contact", OrgKind.POLICE, Role.AGENCY_CONTACT)
    add_user(runtime, world, "youth_contact", OrgKind.YOUTH, Role.AGENCY_CONTACT)
    return world


def gathering(world: DemoWorld, *asked: OrgKind) -> tuple[int, dict[OrgKind, int]]:
    """A case in information gathering with one request to each kind of organisation asked."""
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(
            case_id, "gather_information", screening_notes="MARK-ASSESSMENT"
        ),
    )
    orgs = tuple(world.org_ids[kind] for kind in asked)
    command = information.SendInformationRequests(case_id, orgs, QUESTION)
    ids = world.run("coordinator", information.send_information_requests, command)
    by_org = dict(zip(sorted(orgs), ids, strict=True))
    return case_id, {kind: by_org[world.org_ids[kind]] for kind in asked}


def listed_for(runtime: Runtime, world: DemoWorld, who: str) -> list[information.AgencyRequest]:
    with UnitOfWork(runtime) as uow:
        return information.list_agency_requests(uow, world.actors[who])


def told(runtime: Runtime, event: str, case_id: int) -> dict[str, str]:
    """Who was told of `event` on the case, and the link each notice carries."""
    with runtime.session_factory() as session:
        rows = session.execute(
            select(User.username, Notification.link)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.event == event, Notification.case_id == case_id)
        )
        return {str(row[0]): str(row[1]) for row in rows}


def test_the_asked_organisations_contact_and_screener_are_told_of_the_request_nobody_else(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, requests = gathering(world, OrgKind.HEALTH, OrgKind.POLICE)
    assert told(runtime, "information_request:send", case_id) == {
        "health_contact": f"/information-requests/{requests[OrgKind.HEALTH]}",
        "police_contact": f"/information-requests/{requests[OrgKind.POLICE]}",
        "screener": f"/information-requests/{requests[OrgKind.POLICE]}",
    }
    with UnitOfWork(runtime) as uow:
        notices = notifications.list_notifications(uow, world.actors["health_contact"])
    assert [n.message for n in notices] == [
        f"Case {reference_of(world.runtime, case_id)}: an information request for your organisation"
    ]


def test_the_agency_contact_lists_and_reads_only_their_organisations_open_requests(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, requests = gathering(world, OrgKind.HEALTH, OrgKind.POLICE)
    health = world.actors["health_contact"]
    listed = listed_for(runtime, world, "health_contact")
    assert [(r.request_id, r.case_id, r.question) for r in listed] == [
        (requests[OrgKind.HEALTH], case_id, QUESTION)
    ]
    assert listed[0].case_state == "information_gathering"
    with UnitOfWork(runtime) as uow:
        shown = information.show_agency_request(uow, health, requests[OrgKind.HEALTH])
    assert shown.question == QUESTION
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        information.show_agency_request(uow, health, requests[OrgKind.POLICE])
    # Someone whose organisation was not asked has nothing to list.
    youth = listed_for(runtime, world, "youth_contact")
    assert youth == []


def test_the_agency_contact_sees_the_cases_status_and_nothing_else(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, _ = gathering(world, OrgKind.HEALTH)
    with UnitOfWork(runtime) as uow:
        view = referrals.read_case(uow, world.actors["health_contact"], case_id)
    shown = {f.category for f in view.fields.values() if f.category not in view.hidden}
    assert shown == {Category.STATUS}
    assert set(view.hidden) == set(Category) - {Category.STATUS}
    assert view.linked == {}  # the requests, the assessment data, stay with the network
    # An agency not asked about the case does not learn it exists.
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        referrals.read_case(uow, world.actors["youth_contact"], case_id)


def test_the_agency_contact_answers_their_request_and_another_agencys_is_not_found(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, requests = gathering(world, OrgKind.HEALTH, OrgKind.POLICE)
    with pytest.raises(NotFound):
        world.run(
            "health_contact",
            information.record_answer,
            information.RecordAnswer(requests[OrgKind.POLICE], "MARK-WRONG-ANSWER"),
        )
    with runtime.session_factory() as session:
        refused = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "information_request:answer",
                AuditEntry.allowed.is_(False),
            )
        ).all()
        assert [e.target for e in refused] == [f"information_request:{requests[OrgKind.POLICE]}"]
        assert session.get(InformationRequest, requests[OrgKind.POLICE]).state == "requested"
    state = world.run(
        "health_contact",
        information.record_answer,
        information.RecordAnswer(requests[OrgKind.HEALTH], "Known to the service since 2024."),
    )
    assert state == "answered"
    with runtime.session_factory() as session:
        answered = session.get(InformationRequest, requests[OrgKind.HEALTH])
        assert answered.answer == "Known to the service since 2024."
    # Told: the coordinator, as the workflow's `notify` says.
    assert set(told(runtime, "information_request:answer", case_id)) == {"coordinator"}
    # Answered, the request (and with it the case) is no longer theirs to see.
    listed = listed_for(runtime, world, "health_contact")
    assert listed == []
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        referrals.read_case(uow, world.actors["health_contact"], case_id)


def test_another_organisations_request_is_not_found_even_on_a_case_the_contact_may_see(
    runtime: Runtime, world: DemoWorld
) -> None:
    """Both agencies asked about one case: each contact sees the case's status, and still
    only their own request."""
    _, requests = gathering(world, OrgKind.HEALTH, OrgKind.POLICE)
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        information.show_agency_request(
            uow, world.actors["police_contact"], requests[OrgKind.HEALTH]
        )
    with pytest.raises(NotFound):
        world.run(
            "police_contact",
            information.record_answer,
            information.RecordAnswer(requests[OrgKind.HEALTH], "MARK-WRONG-ANSWER"),
        )
    state = world.run(
        "police_contact",
        information.record_answer,
        information.RecordAnswer(requests[OrgKind.POLICE], "", declined=True),
    )
    assert state == "declined"


def test_the_screener_is_offered_and_allowed_only_the_police_request(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, requests = gathering(world, OrgKind.HEALTH, OrgKind.POLICE)
    screener = world.actors["screener"]
    with UnitOfWork(runtime) as uow:
        page = actions.case_page(uow, screener, case_id)
    assert "answer_request" in page.forms
    assert [r["id"] for r in page.open_requests] == [requests[OrgKind.POLICE]]
    # The screener sees the case's requests (assessment data), so the refusal is a 403.
    with pytest.raises(PermissionDenied, match="information_request:answer"):
        world.run(
            "screener",
            information.record_answer,
            information.RecordAnswer(requests[OrgKind.HEALTH], "MARK-WRONG-ANSWER"),
        )
    assert (
        world.run(
            "screener",
            information.record_answer,
            information.RecordAnswer(requests[OrgKind.POLICE], "No police record."),
        )
        == "answered"
    )
    with UnitOfWork(runtime) as uow:
        page = actions.case_page(uow, screener, case_id)
    assert "answer_request" not in page.forms  # health's request is not the screener's
    assert page.open_requests == []


def test_the_coordinator_still_records_an_answer_for_any_agency(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, requests = gathering(world, OrgKind.HEALTH, OrgKind.EDUCATION)
    with UnitOfWork(runtime) as uow:
        page = actions.case_page(uow, world.actors["coordinator"], case_id)
    assert sorted(r["id"] for r in page.open_requests) == sorted(requests.values())


def test_an_assignment_tells_the_providers_of_the_assigned_organisation_only(
    runtime: Runtime, world: DemoWorld
) -> None:
    add_user(runtime, world, "other_provider", OrgKind.YOUTH, Role.PROVIDER, new_org=True)
    case_id, intervention_id = to_support(world, schedule(world, runtime))
    assert told(runtime, "intervention:assign", case_id) == {
        "provider": f"/interventions/{intervention_id}"
    }
    with UnitOfWork(runtime) as uow:
        messages = [
            n.message for n in notifications.list_notifications(uow, world.actors["provider"])
        ]
    assert (
        f"Case {reference_of(world.runtime, case_id)}: "
        "an intervention was assigned to your organisation"
    ) in messages


def test_the_referrer_is_told_the_panels_decision_on_support_in_words(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    assert "referrer" in told(runtime, "case:decide_support", case_id)
    with UnitOfWork(runtime) as uow:
        messages = [
            n.message for n in notifications.list_notifications(uow, world.actors["referrer"])
        ]
    assert (
        f"Referral {reference_of(world.runtime, case_id)}: "
        "panel: support offered; the person will be asked to consent"
    ) in messages
    assert not any("MARK-" in m for m in messages)
