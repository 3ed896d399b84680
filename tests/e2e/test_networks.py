"""Networks as first-class objects: created by the national tier (with clear 422s),
switched between by people who work in several, each page and call acting in exactly
one; the network's protocol acknowledged before any case; review reminders sent once."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from referral.db.tables import (
    AuditEntry,
    Network,
    Notification,
    Organisation,
    RoleAssignment,
    User,
)
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role
from referral.services import auth, protocols
from referral.services.timers import tick
from referral.services.uow import Runtime, UnitOfWork
from tests.e2e.conftest import Browser, _hash
from tests.factories import submit

# -- fixtures: a national tier, a second city, a person in both cities -------------------


def _network(runtime: Runtime, slug: str, name: str, kind: str) -> tuple[int, int]:
    with runtime.session_factory() as session, session.begin():
        network = Network(slug=slug, name=name, kind=kind)
        session.add(network)
        session.flush()
        org_kind = "national" if kind == "national" else "local_authority"
        org = Organisation(network_id=network.id, name=f"{name} office", kind=org_kind)
        session.add(org)
        session.flush()
        return network.id, org.id


def _person(runtime: Runtime, username: str, org_id: int, *held: tuple[int, Role]) -> int:
    with runtime.session_factory() as session, session.begin():
        user = User(
            username=username, display_name=username, organisation_id=org_id, password_hash=_hash()
        )
        session.add(user)
        session.flush()
        session.add_all(RoleAssignment(user_id=user.id, network_id=n, role=str(r)) for n, r in held)
        return user.id


@pytest.fixture
def national(runtime: Runtime) -> int:
    network_id, org_id = _network(runtime, "national", "National Prevention Office", "national")
    _person(runtime, "nat-admin", org_id, (network_id, Role.ADMIN))
    return network_id


def _network_count(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Network)) or 0)


def _entries(runtime: Runtime, action: str) -> list[AuditEntry]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


GOOD = {
    "name": "Harbour City Prevention Network",
    "slug": "harbour-city",
    "kind": "city",
    "time_zone": "Europe/Amsterdam",
    "languages": "nl, en",
}

# -- creating networks -------------------------------------------------------------------


def test_a_national_admin_creates_a_network_from_the_page(
    runtime: Runtime, world: DemoWorld, national: int, browser: Callable[..., Browser]
) -> None:
    admin = browser("nat-admin")
    page = admin.get("/networks")
    assert page.status_code == 200 and "Create a network" in page.text
    assert "Demo City Prevention Network" in page.text  # every network, by name
    response = admin.post("/networks", {**GOOD, "admin_username": "admin"})
    assert response.status_code == 303 and response.headers["location"] == "/networks?done=created"
    with runtime.session_factory() as session:
        row = session.scalars(select(Network).where(Network.slug == "harbour-city")).one()
        assert (row.kind, row.time_zone, row.languages) == ("city", "Europe/Amsterdam", "nl,en")
        first_admin = session.scalar(
            select(RoleAssignment.role).where(
                RoleAssignment.network_id == row.id,
                RoleAssignment.user_id == world.actors["admin"].user_id,
            )
        )
    assert first_admin == "admin"
    (entry,) = _entries(runtime, "network:created")
    assert entry.allowed and entry.target == f"network:{row.id}" and entry.network_id == national


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "  ", "Enter the network&#39;s name."),
        ("slug", "Harbour City", "lower-case letters"),
        ("slug", "demo-city", "already used by another network"),
        ("kind", "moon", "Choose the kind"),
        ("time_zone", "Mars/Olympus_Mons", "IANA name"),
        ("languages", "english!", "language tags"),
        ("admin_username", "nobody-here", "There is no active user"),
    ],
)
def test_bad_network_input_is_a_422_that_says_what_is_wrong_and_writes_nothing(
    runtime: Runtime,
    world: DemoWorld,
    national: int,
    browser: Callable[..., Browser],
    field: str,
    value: str,
    words: str,
) -> None:
    admin = browser("nat-admin")
    admin.get("/networks")
    before = _network_count(runtime)
    response = admin.post("/networks", {**GOOD, field: value})
    assert response.status_code == 422
    assert words in response.text and f'href="#{field}"' in response.text
    assert _network_count(runtime) == before
    assert _entries(runtime, "network:created") == []


def test_a_city_admin_may_not_create_networks_nor_list_them(
    runtime: Runtime, world: DemoWorld, national: int, browser: Callable[..., Browser]
) -> None:
    admin = browser("admin")
    assert admin.get("/networks").status_code == 404
    before = _network_count(runtime)
    response = admin.post("/networks", GOOD)
    assert response.status_code == 403 and "national tier" in response.text
    assert _network_count(runtime) == before
    (refusal,) = _entries(runtime, "network:create")
    assert not refusal.allowed


# -- switching ---------------------------------------------------------------------------


@pytest.fixture
def two_cities(runtime: Runtime, world: DemoWorld) -> dict[str, Any]:
    """A second city with its own coordinator and a case, and a coordinator of both."""
    harbour, org_id = _network(runtime, "harbour", "Harbour City Prevention Network", "city")
    demo = world.actors["coordinator"].network_id
    both = _person(
        runtime,
        "both-cities",
        world.org_ids[OrgKind.LOCAL_AUTHORITY],
        (demo, Role.COORDINATOR),
        (harbour, Role.COORDINATOR),
    )
    referrer_id = _person(runtime, "harbour-referrer", org_id, (harbour, Role.REFERRER))
    here = submit(world)
    there_referrer = Actor(
        referrer_id, org_id, OrgKind.LOCAL_AUTHORITY, harbour, "harbour", frozenset({Role.REFERRER})
    )
    world.actors["harbour-referrer"] = there_referrer
    there = world.run("harbour-referrer", _submit, None)  # by harbour's own referrer
    return {"demo": demo, "harbour": harbour, "both": both, "here": here, "there": there}


def _submit(uow: UnitOfWork, actor: Actor, _: object) -> int:
    from referral.services import referrals
    from tests.factories import referral_command

    return int(referrals.submit_referral(uow, actor, referral_command()))


def test_switching_networks_acts_in_exactly_the_chosen_one(
    runtime: Runtime,
    world: DemoWorld,
    two_cities: dict[str, Any],
    browser: Callable[..., Browser],
    app_settings: object,
) -> None:
    person = browser("both-cities")
    queue = person.get("/queue")
    assert queue.status_code == 200
    # The header names the current network and offers the other in a form.
    assert 'action="/network"' in queue.text and "Harbour City Prevention Network" in queue.text
    selected = f'<option value="{two_cities["demo"]}" selected>Demo City Prevention Network'
    assert selected in queue.text
    assert f"/cases/{two_cities['here']}" in queue.text
    assert f"/cases/{two_cities['there']}" not in queue.text
    assert person.get(f"/cases/{two_cities['there']}").status_code == 404
    with UnitOfWork(runtime) as uow:  # a token issued while acting in demo stays there
        actor = auth.actor_of(uow, two_cities["both"], two_cities["demo"])
        token = auth.issue_api_token(uow, actor, auth.IssueToken("bound"), app_settings)  # type: ignore[arg-type]
    old_cookie = person.client.cookies.get("referral_session")
    old_csrf = person.csrf

    response = person.post("/network", {"network_id": str(two_cities["harbour"])})
    assert response.status_code == 303
    assert person.client.cookies.get("referral_session") != old_cookie  # a new session
    queue = person.get("/queue")
    assert person.csrf != old_csrf  # and a new CSRF token
    selected = f'<option value="{two_cities["harbour"]}" selected>Harbour City Prevention Network'
    assert selected in queue.text
    assert f"/cases/{two_cities['there']}" in queue.text
    assert f"/cases/{two_cities['here']}" not in queue.text
    assert person.get(f"/cases/{two_cities['here']}").status_code == 404
    assert person.get(f"/cases/{two_cities['there']}").status_code == 200
    # The old session is gone: its cookie signs nobody in.
    stale = browser()
    stale.client.cookies.set("referral_session", old_cookie or "", domain="testserver.local")
    assert stale.get("/queue", follow_redirects=False).status_code in (302, 303, 307)
    # The API token still acts in the network it was issued in, whatever the session does.
    bearer = {"Authorization": f"Bearer {token}"}
    assert person.client.get(f"/api/cases/{two_cities['here']}", headers=bearer).status_code == 200
    assert person.client.get(f"/api/cases/{two_cities['there']}", headers=bearer).status_code == 404
    (entry,) = _entries(runtime, "auth:network_switched")
    assert entry.network_id == two_cities["harbour"] and entry.actor_user_id == two_cities["both"]


def test_a_network_the_user_holds_no_role_in_cannot_be_switched_to(
    runtime: Runtime,
    world: DemoWorld,
    two_cities: dict[str, Any],
    browser: Callable[..., Browser],
) -> None:
    coordinator = browser("coordinator")  # demo only
    coordinator.get("/queue")
    response = coordinator.post("/network", {"network_id": str(two_cities["harbour"])})
    assert response.status_code == 404
    assert coordinator.get(f"/cases/{two_cities['there']}").status_code == 404
    assert coordinator.post("/network", {"network_id": "soon"}).status_code == 422
    no_csrf = coordinator.client.post(
        "/network", data={"network_id": str(two_cities["demo"])}, follow_redirects=False
    )
    assert no_csrf.status_code == 403
    assert _entries(runtime, "auth:network_switched") == []


# -- the protocol ------------------------------------------------------------------------


def test_the_protocol_is_acknowledged_before_any_case_and_again_when_it_changes(
    runtime: Runtime, world: DemoWorld, browser: Callable[..., Browser], api: Any
) -> None:
    case_id = submit(world)
    coordinator = browser("coordinator")
    assert coordinator.get(f"/cases/{case_id}").status_code == 200  # no protocol yet
    coordinator.get("/protocol")
    review_on = (runtime.clock().date() + timedelta(days=90)).isoformat()
    published = coordinator.post(
        "/protocol", {"text": "Share only what the agreement allows.", "owner": "IG lead",
                      "review_on": review_on},
    )  # fmt: skip
    assert published.status_code == 303
    # Everyone, the publisher too, is sent to the protocol before any case or list.
    for url in (f"/cases/{case_id}", "/queue"):
        gated = coordinator.get(url, follow_redirects=False)
        assert gated.status_code == 303 and gated.headers["location"] == "/protocol"
    refused = api.get("coordinator", f"/api/cases/{case_id}")
    assert refused.status_code == 403 and "protocol" in refused.json()["message"]
    assert coordinator.get("/account").status_code == 200  # not a case: reachable
    page = coordinator.get("/protocol")
    assert "Share only what the agreement allows." in page.text
    assert "I have read and will follow version 1" in page.text
    assert coordinator.post("/protocol/acknowledge", {"version": "1"}).status_code == 303
    assert coordinator.get(f"/cases/{case_id}").status_code == 200
    assert api.get("coordinator", f"/api/cases/{case_id}").status_code == 200
    (entry,) = _entries(runtime, "protocol:acknowledged")
    assert entry.actor_user_id == world.actors["coordinator"].user_id and entry.allowed
    # Somebody else in the network has not acknowledged it yet.
    screener = browser("screener")
    assert screener.get(f"/cases/{case_id}", follow_redirects=False).status_code == 303
    # A new version: everyone acknowledges again.
    coordinator.get("/protocol")
    coordinator.post("/protocol", {"text": "Version two.", "owner": "IG", "review_on": review_on})
    assert coordinator.get(f"/cases/{case_id}", follow_redirects=False).status_code == 303
    coordinator.get("/protocol")
    stale = coordinator.post("/protocol/acknowledge", {"version": "1"})
    assert stale.status_code == 409  # the page was older than the protocol
    assert coordinator.post("/protocol/acknowledge", {"version": "2"}).status_code == 303
    assert coordinator.get(f"/cases/{case_id}").status_code == 200
    assert len(_entries(runtime, "protocol:acknowledged")) == 2


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"text": " ", "owner": "IG", "review_on": "2027-01-01"}, "Enter the protocol"),
        ({"text": "T", "owner": "", "review_on": "2027-01-01"}, "Name the protocol"),
        ({"text": "T", "owner": "IG", "review_on": "soon"}, "YYYY-MM-DD"),
        ({"text": "T", "owner": "IG", "review_on": "2020-01-01"}, "in the future"),
    ],
)
def test_bad_protocol_input_is_a_422_and_publishes_nothing(
    runtime: Runtime,
    world: DemoWorld,
    browser: Callable[..., Browser],
    values: dict[str, str],
    words: str,
) -> None:
    coordinator = browser("coordinator")
    coordinator.get("/protocol")
    response = coordinator.post("/protocol", values)
    assert response.status_code == 422 and words in response.text
    assert _entries(runtime, "protocol:published") == []


def test_a_referrer_may_not_publish_a_protocol(
    runtime: Runtime, world: DemoWorld, browser: Callable[..., Browser]
) -> None:
    referrer = browser("referrer")
    referrer.get("/protocol")
    response = referrer.post(
        "/protocol", {"text": "Mine.", "owner": "me", "review_on": "2027-01-01"}
    )
    assert response.status_code == 403
    assert _entries(runtime, "protocol:published") == []


# -- review reminders --------------------------------------------------------------------


def _notices(runtime: Runtime, event: str) -> list[Notification]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(Notification).where(Notification.event == event)))


def test_the_dpo_is_reminded_once_when_a_protocol_or_agreement_passes_its_review_date(
    runtime: Runtime, world: DemoWorld
) -> None:
    today = runtime.clock().date()
    world.run(
        "coordinator",
        protocols.publish,
        protocols.Publish("Text.", "IG lead", today + timedelta(days=10)),
    )
    world.run(
        "admin",
        protocols.set_agreement_review,
        protocols.SetAgreementReview(today + timedelta(days=20)),
    )
    assert tick(runtime).reminders == 0  # nothing due yet
    runtime.clock.advance(days=11)  # type: ignore[attr-defined]
    assert tick(runtime).reminders == 1
    (notice,) = _notices(runtime, "protocol:review_due")
    assert notice.user_id == world.actors["dpo"].user_id and notice.link == "/protocol"
    assert notice.email_state in ("pending", "sent", "failed")  # into the outbox
    assert _notices(runtime, "agreement:review_due") == []
    runtime.clock.advance(days=10)  # type: ignore[attr-defined]
    report = tick(runtime)
    assert report.reminders == 1 and "1 review reminder(s)" in str(report)
    assert len(_notices(runtime, "agreement:review_due")) == 1
    runtime.clock.advance(days=30)  # type: ignore[attr-defined]
    assert tick(runtime).reminders == 0  # once each, however long it stays overdue
    assert len(_notices(runtime, "protocol:review_due")) == 1
    assert len(_notices(runtime, "agreement:review_due")) == 1
    assert len(_entries(runtime, "review:reminded")) == 2
    # A new version with a new review date is reminded of in its turn.
    world.run(
        "coordinator",
        protocols.publish,
        protocols.Publish("Text 2.", "IG lead", runtime.clock().date() + timedelta(days=1)),
    )
    runtime.clock.advance(days=2)  # type: ignore[attr-defined]
    assert tick(runtime).reminders == 1
    assert len(_notices(runtime, "protocol:review_due")) == 2


def test_a_training_network_says_so_on_every_page(
    runtime: Runtime, browser: Callable[..., Browser]
) -> None:
    network_id, org_id = _network(runtime, "training", "Training Network", "training")
    _person(runtime, "trainee", org_id, (network_id, Role.COORDINATOR))
    trainee = browser("trainee")
    assert "every case here is synthetic practice data" in trainee.get("/queue").text
    assert (
        "every case here is synthetic practice data"
        not in browser("coordinator").get("/queue").text
    )


def test_the_national_tier_starts_at_the_networks_and_sees_no_case(
    runtime: Runtime, world: DemoWorld, national: int, browser: Callable[..., Browser]
) -> None:
    with runtime.session_factory() as session:
        org_id = session.scalar(select(Organisation.id).where(Organisation.network_id == national))
    assert org_id is not None
    _person(runtime, "nat-analyst", org_id, (national, Role.ANALYST))
    _person(runtime, "nat-coord", org_id, (national, Role.NATIONAL_COORDINATOR))
    case_id = submit(world)
    for username in ("nat-analyst", "nat-coord"):
        person = browser(username)
        home = person.get("/", follow_redirects=False)
        assert home.headers["location"] == "/networks"
        page = person.get("/networks")
        assert page.status_code == 200 and "Demo City Prevention Network" in page.text
        assert "Create a network" not in page.text  # only the national admin creates
        assert person.get(f"/cases/{case_id}").status_code == 404
