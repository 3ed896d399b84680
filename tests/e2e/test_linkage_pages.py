"""Repeat referrals on the case page: the possible earlier referral a coordinator sees, the
question to the other network, its answer there, and 404 for another network's case."""

from collections.abc import Callable
from datetime import date

from referral.demo import DemoWorld
from referral.domain.vocabulary import Role
from referral.services.referrals import SubjectDetails, SubmitReferral, submit_referral
from referral.services.uow import Runtime, UnitOfWork
from tests.e2e.conftest import Api, Browser, _hash
from tests.factories import submit
from tests.networks import add_network

Browse = Callable[..., Browser]
BORN = date(2010, 6, 2)


def test_a_coordinator_asks_another_city_to_confirm_and_it_answers(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    city = add_network(
        runtime,
        "harbour",
        password_hash=_hash(),
        coordinator=Role.COORDINATOR,
        referrer=Role.REFERRER,
    )
    earlier = submit(
        world,
        subject=SubjectDetails(given_name="Bilal", family_name="Haddad", date_of_birth=BORN),
    )
    command = SubmitReferral(
        subject=SubjectDetails(given_name="بلال", family_name="حداد", date_of_birth=BORN),
        concern_summary="Synthetic concern.",
        concern_types=("hate_targeting_a_group",),
    )
    with UnitOfWork(runtime) as uow:
        later = submit_referral(uow, city.actors["referrer"], command)

    harbour = browser("harbour-coordinator")
    page = harbour.get(f"/cases/{later}")
    assert page.status_code == 200
    assert "A possible earlier referral: <strong>Demo City Prevention Network</strong>, 2026" in (
        page.text
    )
    assert "Bilal" not in page.text and "Haddad" not in page.text
    alert = page.text.split('id="link-')[1].split('"')[0]
    asked = harbour.post(f"/cases/{later}/links/{alert}/ask")
    assert asked.status_code == 303, asked.text
    assert "Ask Demo City Prevention Network to confirm" not in harbour.get(f"/cases/{later}").text

    demo = browser("coordinator")
    page = demo.get(f"/cases/{earlier}")
    assert "<strong>Harbour Prevention Network</strong> asks whether this case" in page.text
    assert "بلال" not in page.text
    question = page.text.split('id="link-')[1].split('"')[0]
    answered = demo.post(f"/cases/{earlier}/links/{question}/answer", {"answer": "confirm"})
    assert answered.status_code == 303, answered.text
    assert "Confirmed" in harbour.get(f"/cases/{later}").text

    # The other network's case, and its question, are not theirs: 404, not 403.
    assert harbour.get(f"/cases/{earlier}").status_code == 404
    answered_again = harbour.post(f"/cases/{later}/links/{question}/answer", {"answer": "reject"})
    assert answered_again.status_code == 404


def test_an_answer_that_is_neither_confirm_nor_reject_is_refused_in_words(
    browser: Browse, world: DemoWorld
) -> None:
    case_id = submit(world)
    response = browser("coordinator").post(f"/cases/{case_id}/links/1/answer", {"answer": "maybe"})
    assert response.status_code in (400, 422)
    assert "confirm or reject" in response.text


def test_the_api_lists_links_and_the_national_coordinator_sees_alerts_at_status_level(
    api: Api, world: DemoWorld, runtime: Runtime
) -> None:
    city = add_network(runtime, "harbour", coordinator=Role.COORDINATOR, referrer=Role.REFERRER)
    national = add_network(runtime, "national", kind="national", lead=Role.NATIONAL_COORDINATOR)
    world.actors["harbour-coordinator"] = city.actors["coordinator"]
    world.actors["national-lead"] = national.actors["lead"]
    earlier = submit(
        world,
        subject=SubjectDetails(given_name="Bilal", family_name="Haddad", date_of_birth=BORN),
    )
    command = SubmitReferral(
        subject=SubjectDetails(given_name="Bilal", family_name="Hadad", date_of_birth=BORN),
        concern_summary="Synthetic concern.",
        concern_types=("hate_targeting_a_group",),
    )
    with UnitOfWork(runtime) as uow:
        later = submit_referral(uow, city.actors["referrer"], command)

    links = api.get("harbour-coordinator", f"/api/cases/{later}/links")
    assert links.status_code == 200, links.text
    [link] = links.json()["links"]
    assert link["network"] == "Demo City Prevention Network" and link["may_ask"]
    assert api.post("harbour-coordinator", f"/api/links/{link['alert_id']}/ask").status_code == 204
    assert api.get("harbour-coordinator", f"/api/cases/{earlier}/links").status_code == 404

    alerts = api.get("national-lead", "/api/linkage/alerts")
    assert alerts.status_code == 200, alerts.text
    [alert] = alerts.json()["alerts"]
    assert alert["status"] == "asked" and alert["earlier_network"] == "Demo City Prevention Network"
    assert "Bilal" not in alerts.text and "Haddad" not in alerts.text
    assert api.get("coordinator", "/api/linkage/alerts").status_code == 403

    [question] = api.get("coordinator", f"/api/cases/{earlier}/links").json()["links"]
    answered = api.post(
        "coordinator", f"/api/links/{question['alert_id']}/answer", {"confirm": False}
    )
    assert answered.status_code == 200 and answered.json() == {"status": "rejected"}
    bad = api.post("coordinator", f"/api/links/{question['alert_id']}/answer", {"confirm": "maybe"})
    assert bad.status_code in (400, 422)


def test_the_national_coordinator_has_a_page_of_alerts_and_a_city_coordinator_has_not(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    city = add_network(runtime, "harbour", referrer=Role.REFERRER)
    add_network(
        runtime, "national", kind="national", password_hash=_hash(), lead=Role.NATIONAL_COORDINATOR
    )
    submit(
        world,
        subject=SubjectDetails(given_name="Bilal", family_name="Haddad", date_of_birth=BORN),
    )
    command = SubmitReferral(
        subject=SubjectDetails(given_name="Bilal", family_name="Hadad", date_of_birth=BORN),
        concern_summary="Synthetic concern.",
        concern_types=("hate_targeting_a_group",),
    )
    with UnitOfWork(runtime) as uow:
        submit_referral(uow, city.actors["referrer"], command)

    national = browser("national-lead")
    assert 'href="/linkage"' in national.get("/").text or 'href="/linkage"' in (
        national.get("/networks").text
    )
    page = national.get("/linkage")
    assert page.status_code == 200, page.text
    row = page.text.split("<tbody>")[1].split("</tbody>")[0]
    assert "Harbour Prevention Network, 2026" in row
    assert "Demo City Prevention Network, 2026" in row and "Not yet asked" in row
    assert "Bilal" not in page.text and "Haddad" not in page.text and "Hadad" not in page.text
    assert browser("coordinator").get("/linkage").status_code == 403
