"""Single sign-on against a real OpenID provider served over HTTP in the test process.

The app's side runs through its HTTP interface (the test client); the provider's login
form is filled over a real socket, and the app calls the provider's discovery document,
JWKS and token endpoint over real sockets too. A first sign-in waits, with no session
and no data, until an administrator approves it; then the next one opens a session.
"""

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from litestar import Litestar
from pydantic import SecretStr
from sqlalchemy import select
from structlog.testing import capture_logs

from referral.config import OidcProvider, Settings
from referral.db.tables import (
    AuditEntry,
    Network,
    Organisation,
    RoleAssignment,
    SsoIdentity,
    User,
    WebSession,
)
from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind, Role
from referral.oidc import forget_providers
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser, _hash
from tests.factories import submit
from tests.oidc_provider import TestProvider, free_port

BASE = "https://testserver.local"
HERE, THERE = "demo-city", "other-city"


@pytest.fixture(scope="module")
def idp() -> Iterator[TestProvider]:
    forget_providers()
    provider = TestProvider()
    provider.add_client(
        "client-here", "secret-here", f"{BASE}/sso/{HERE}/callback", f"{BASE}/login"
    )
    provider.add_client("client-there", "secret-there", f"{BASE}/sso/{THERE}/callback")
    provider.add_person("olly", organisation="Demo police")
    provider.add_person("pat", organisation="Demo health")
    provider.start()
    yield provider
    provider.stop()
    forget_providers()


def configured(idp: TestProvider, client: str, issuer: str | None = None) -> OidcProvider:
    return OidcProvider(
        label=f"Test ID ({client})",
        issuer=issuer or idp.issuer,
        client_id=client,
        client_secret=SecretStr(client.replace("client", "secret")),
    )


@pytest.fixture
def other_city(runtime: Runtime) -> int:
    """A second network with an administrator of its own."""
    with runtime.session_factory() as session, session.begin():
        network = Network(slug=THERE, name="Other City")
        session.add(network)
        session.flush()
        org = Organisation(network_id=network.id, name="Other police", kind=OrgKind.POLICE)
        session.add(org)
        session.flush()
        user = User(
            username="other.admin",
            display_name="Other admin",
            organisation_id=org.id,
            password_hash=_hash(),
        )
        session.add(user)
        session.flush()
        session.add(RoleAssignment(user_id=user.id, network_id=network.id, role=Role.ADMIN))
        return network.id


@pytest.fixture
def sso(
    browser: Callable[..., Browser],
    shared_app: Litestar,
    app_settings: Settings,
    idp: TestProvider,
    other_city: int,
) -> Iterator[Settings]:
    """The app with a provider for each network: one provider, one client per network."""
    settings = app_settings.model_copy(
        update={
            "public_base_url": BASE,
            "oidc_providers": {
                HERE: configured(idp, "client-here"),
                THERE: configured(idp, "client-there"),
            },
        }
    )
    shared_app.state.settings = settings
    idp.token_issuer = idp.nonce_override = None
    idp.forge_signature = False
    idp.token_audience = None
    idp.end_session = True
    idp.signed_out.clear()
    forget_providers()  # each test reads the discovery document afresh
    yield settings
    shared_app.state.settings = app_settings


def through_provider(b: Browser, idp: TestProvider, username: str, network: str = HERE) -> Any:
    """Start at the app, sign in at the provider, and come back with its answer."""
    start = b.client.get(f"/sso/{network}/start", follow_redirects=False)
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(f"{idp.issuer}/authorize?")
    assert "code_challenge_method=S256" in authorize and "nonce=" in authorize
    form = requests.get(authorize, timeout=10)
    assert form.status_code == 200 and "Username" in form.text
    answer = requests.post(
        authorize, data={"username": username}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def sign_in(b: Browser, idp: TestProvider, username: str, network: str = HERE) -> Any:
    return b.client.get(through_provider(b, idp, username, network), follow_redirects=False)


def identity_of(runtime: Runtime, network_id: int) -> SsoIdentity:
    with runtime.session_factory() as session:
        row = session.scalars(select(SsoIdentity).where(SsoIdentity.network_id == network_id)).one()
        session.expunge(row)
        return row


def actions(runtime: Runtime) -> list[tuple[str, bool, str]]:
    with runtime.session_factory() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.allowed, AuditEntry.target).where(
                AuditEntry.action.like("%sso%") | (AuditEntry.action == "auth:login")
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def approve_as_new_user(admin: Browser, identity_id: int, world: DemoWorld) -> Any:
    admin.get(f"/admin/sign-ins/{identity_id}")
    return admin.post(
        f"/admin/sign-ins/{identity_id}/approve",
        {
            "user_id": "",
            "username": "olly.officer",
            "organisation_id": str(world.org_ids[OrgKind.POLICE]),
            "roles": ["screener"],
        },
    )


def test_the_login_page_offers_each_networks_provider(
    browser: Callable[..., Browser], sso: Settings
) -> None:
    text = browser().get("/login").text
    assert "Sign in with Test ID (client-here)" in text
    assert f'href="/sso/{HERE}/start"' in text and f'href="/sso/{THERE}/start"' in text


def test_a_first_sign_in_waits_for_approval_and_sees_nothing(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld,
) -> None:  # fmt: skip
    case_id = submit(world)
    b = browser()
    response = sign_in(b, idp, "olly")
    assert response.status_code == 303
    assert response.headers["location"] == f"/sso/waiting?network={HERE}"
    assert "referral_session" not in b.client.cookies
    waiting = b.get(response.headers["location"])
    assert "Waiting for approval" in waiting.text and "Test ID (client-here)" in waiting.text
    for url in (f"/cases/{case_id}", "/queue", "/referrals", f"/api/cases/{case_id}"):
        answer = b.client.get(url, follow_redirects=False)
        assert answer.status_code in (302, 303, 401), (url, answer.status_code)
        assert "MARK" not in answer.text
    identity = identity_of(runtime, world.actors["admin"].network_id)
    assert identity.user_id is None and identity.claimed_organisation == "Demo police"
    assert identity.issuer == idp.issuer
    with runtime.session_factory() as session:
        assert session.scalar(select(WebSession.id).limit(1)) is None
    assert ("auth:sso_pending", False, f"sso_identity:{identity.id}") in actions(runtime)


def test_an_approved_identity_signs_in_with_a_normal_session(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld,
) -> None:  # fmt: skip
    person = browser()
    sign_in(person, idp, "olly")
    identity = identity_of(runtime, world.actors["admin"].network_id)

    admin = browser("admin")
    listing = admin.get("/admin/sign-ins").text
    assert "Olly Example" in listing and "Waiting for approval" in listing
    assert (
        approve_as_new_user(admin, identity.id, world).headers["location"].endswith("done=approved")
    )
    # Approving again is a conflict, not a second user.
    assert approve_as_new_user(admin, identity.id, world).status_code == 409

    response = sign_in(person, idp, "olly")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "referral_session" in person.client.cookies
    queue = person.get("/queue")
    assert queue.status_code == 200 and "Olly Example" in queue.text
    with runtime.session_factory() as session:
        user = session.scalars(select(User).where(User.username == "olly.officer")).one()
        assert user.organisation_id == world.org_ids[OrgKind.POLICE]
    assert ("auth:login", True, f"user:{user.id}") in actions(runtime)
    # The session is the password's kind: signing out ends it.
    person.post("/logout")
    assert person.client.get("/queue", follow_redirects=False).status_code in (302, 303)


def test_an_identity_approved_as_an_existing_user_acts_with_their_roles(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld,
) -> None:  # fmt: skip
    person = browser()
    sign_in(person, idp, "pat")
    identity = identity_of(runtime, world.actors["admin"].network_id)
    admin = browser("admin")
    admin.get(f"/admin/sign-ins/{identity.id}")
    coordinator = str(world.actors["coordinator"].user_id)
    assert (
        admin.post(f"/admin/sign-ins/{identity.id}/approve", {"user_id": coordinator}).status_code
        == 303
    )
    assert sign_in(person, idp, "pat").status_code == 303
    assert person.get("/account").status_code == 200
    assert "Casey Coordinator" in person.get("/queue").text


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"user_id": "", "username": "x", "roles": ["screener"]}, "username"),
        ({"user_id": "", "username": "new.person", "roles": []}, "roles"),
        ({"user_id": "999999"}, "user_id"),
        ({"user_id": "not-a-number"}, "user_id"),
    ],
)
def test_a_bad_approval_is_refused_beside_its_field_and_changes_nothing(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld, form: dict[str, Any], field: str,
) -> None:  # fmt: skip
    sign_in(browser(), idp, "olly")
    identity = identity_of(runtime, world.actors["admin"].network_id)
    admin = browser("admin")
    admin.get(f"/admin/sign-ins/{identity.id}")
    form = {"organisation_id": str(world.org_ids[OrgKind.POLICE]), **form}
    response = admin.post(f"/admin/sign-ins/{identity.id}/approve", form)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert identity_of(runtime, world.actors["admin"].network_id).user_id is None


@pytest.mark.parametrize("who", ["coordinator", "dpo"])
def test_only_an_administrator_sees_or_approves_sign_ins(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld, who: str,
) -> None:  # fmt: skip
    sign_in(browser(), idp, "olly")
    identity = identity_of(runtime, world.actors["admin"].network_id)
    b = browser(who)
    assert b.get("/admin/sign-ins").status_code == 403
    b.get("/account")
    answer = b.post(
        f"/admin/sign-ins/{identity.id}/approve", {"user_id": str(world.actors[who].user_id)}
    )
    assert answer.status_code == 403
    assert identity_of(runtime, world.actors["admin"].network_id).user_id is None


def test_a_forged_or_stale_state_is_refused_before_the_provider_is_asked(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime
) -> None:
    b = browser()
    back = through_provider(b, idp, "olly")
    forged = back.replace("state=", "state=x")
    response = b.client.get(forged, follow_redirects=False)
    assert response.status_code == 400
    assert "state does not match" in response.text
    # Without the cookie `start` set (another browser) the answer is refused the same way.
    stranger = browser()
    response = stranger.client.get(back, follow_redirects=False)
    assert response.status_code == 400 and "state does not match" in response.text
    with runtime.session_factory() as session:
        assert session.scalar(select(SsoIdentity.id).limit(1)) is None


def test_an_id_token_with_another_nonce_is_refused(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime
) -> None:
    idp.nonce_override = "a-nonce-of-another-sign-in"
    response = sign_in(browser(), idp, "olly")
    assert response.status_code == 400
    assert "nonce does not match" in response.text
    with runtime.session_factory() as session:
        assert session.scalar(select(SsoIdentity.id).limit(1)) is None


def test_an_id_token_from_another_issuer_is_refused(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime
) -> None:
    idp.token_issuer = "https://impostor.example.org"
    response = sign_in(browser(), idp, "olly")
    assert response.status_code == 400
    assert "wrong issuer" in response.text
    with runtime.session_factory() as session:
        assert session.scalar(select(SsoIdentity.id).limit(1)) is None


def test_a_provider_whose_discovery_names_another_issuer_is_refused(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, shared_app: Litestar
) -> None:
    # The same server reached by another name: its discovery document names 127.0.0.1.
    elsewhere = idp.issuer.replace("127.0.0.1", "localhost")
    shared_app.state.settings = sso.model_copy(
        update={"oidc_providers": {HERE: configured(idp, "client-here", issuer=elsewhere)}}
    )
    response = browser().client.get(f"/sso/{HERE}/start", follow_redirects=False)
    assert response.status_code == 502
    assert "wrong issuer" in response.text


def test_an_identity_of_another_networks_provider_cannot_act_here(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld, other_city: int,
) -> None:  # fmt: skip
    here = world.actors["admin"].network_id
    person = browser()
    sign_in(person, idp, "olly")
    approve_as_new_user(browser("admin"), identity_of(runtime, here).id, world)

    # Signed in through the other network's provider, the same person is a stranger there.
    response = sign_in(person, idp, "olly", network=THERE)
    assert response.headers["location"] == f"/sso/waiting?network={THERE}"
    assert "referral_session" not in person.client.cookies
    there = identity_of(runtime, other_city)
    assert there.user_id is None and there.subject == identity_of(runtime, here).subject

    # The other network's answer cannot be replayed into this network's callback.
    back = through_provider(person, idp, "olly", network=THERE)
    replayed = back.replace(f"/sso/{THERE}/", f"/sso/{HERE}/")
    assert person.client.get(replayed, follow_redirects=False).status_code == 400

    # The other network's administrator can neither see nor approve this network's.
    here_id = identity_of(runtime, here).id
    other_admin = browser("other.admin")
    page = other_admin.get("/admin/sign-ins").text
    assert f'href="/admin/sign-ins/{there.id}"' in page  # their own network's, pending
    assert "olly.officer" not in page and f"/admin/sign-ins/{here_id}/" not in page
    other_admin.get(f"/admin/sign-ins/{there.id}")
    assert other_admin.get(f"/admin/sign-ins/{here_id}").status_code == 404
    hijack = other_admin.post(
        f"/admin/sign-ins/{here_id}/approve",
        {"user_id": str(world.actors["coordinator"].user_id)},
    )
    assert hijack.status_code == 404
    # Nor can they map their network's identity onto a user of this network.
    mapped = other_admin.post(
        f"/admin/sign-ins/{there.id}/approve", {"user_id": str(world.actors["coordinator"].user_id)}
    )
    assert mapped.status_code == 422
    assert identity_of(runtime, other_city).user_id is None


def test_a_removed_identity_no_longer_signs_in(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld,
) -> None:  # fmt: skip
    person = browser()
    sign_in(person, idp, "olly")
    identity = identity_of(runtime, world.actors["admin"].network_id)
    admin = browser("admin")
    approve_as_new_user(admin, identity.id, world)
    admin.get("/admin/sign-ins")
    assert admin.post(f"/admin/sign-ins/{identity.id}/remove").status_code == 303
    again = browser()
    assert sign_in(again, idp, "olly").headers["location"].startswith("/sso/waiting")
    assert "referral_session" not in again.client.cookies


def test_an_unknown_network_has_no_sign_in(browser: Callable[..., Browser], sso: Settings) -> None:
    b = browser()
    assert b.client.get("/sso/nowhere/start", follow_redirects=False).status_code == 404
    assert b.client.get("/sso/nowhere/callback?code=x&state=y").status_code == 404


def test_a_sign_in_logs_neither_the_secret_nor_who_signed_in(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, world: DemoWorld,
    runtime: Runtime,
) -> None:  # fmt: skip
    stdlib = io.StringIO()
    handler = logging.StreamHandler(stdlib)
    # The provider's own lines (its threads) are the provider's business, not ours.
    handler.addFilter(lambda record: "process_request_thread" not in record.threadName)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with capture_logs() as events:
            person = browser()
            sign_in(person, idp, "olly")
            approve_as_new_user(
                browser("admin"), identity_of(runtime, world.actors["admin"].network_id).id, world
            )
            sign_in(person, idp, "olly")
            idp.nonce_override = "another"
            sign_in(browser(), idp, "olly")
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    names = [event["event"] for event in events]
    assert {"sso_pending", "signed_in", "sso_refused"} <= set(names)
    logged = repr(events) + stdlib.getvalue()
    person = idp.people["olly"]
    for secret in ("secret-here", person.name, person.email, person.subject, "eyJ"):
        assert secret not in logged, secret


def test_a_person_the_provider_turns_away_is_told_so(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider
) -> None:
    response = sign_in(browser(), idp, "nobody")  # the provider knows no such person
    assert response.status_code == 400
    assert "did not sign you in (access_denied)" in response.text


def test_a_deactivated_users_identity_is_refused(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld,
) -> None:  # fmt: skip
    person = browser()
    sign_in(person, idp, "olly")
    identity = identity_of(runtime, world.actors["admin"].network_id)
    admin = browser("admin")
    approve_as_new_user(admin, identity.id, world)
    with runtime.session_factory() as session:
        user_id = session.scalar(select(User.id).where(User.username == "olly.officer"))
    admin.get("/admin/users")
    assert admin.post(f"/admin/users/{user_id}/deactivate").status_code == 303
    response = sign_in(person, idp, "olly")
    assert response.status_code == 403
    assert "not active" in response.text
    assert "referral_session" not in person.client.cookies
    assert ("auth:login", False, f"user:{user_id}") in actions(runtime)


def test_an_id_token_signed_with_a_key_the_provider_does_not_publish_is_refused(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime
) -> None:
    idp.forge_signature = True
    response = sign_in(browser(), idp, "olly")
    assert response.status_code == 400
    assert "could not be verified" in response.text
    with runtime.session_factory() as session:
        assert session.scalar(select(SsoIdentity.id).limit(1)) is None


def test_a_provider_that_cannot_be_reached_is_said_so(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, shared_app: Litestar
) -> None:
    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    shared_app.state.settings = sso.model_copy(
        update={"oidc_providers": {HERE: configured(idp, "client-here", issuer=gone)}}
    )
    response = browser().client.get(f"/sso/{HERE}/start", follow_redirects=False)
    assert response.status_code == 502
    assert "could not be reached" in response.text


def test_an_id_token_meant_for_another_networks_client_is_refused(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime
) -> None:
    idp.token_audience = ["client-there"]
    response = sign_in(browser(), idp, "olly")
    assert response.status_code == 400
    assert "wrong audience" in response.text
    with runtime.session_factory() as session:
        assert session.scalar(select(SsoIdentity.id).limit(1)) is None


# -- single sign-out ------------------------------------------------------------------------

SIGN_OUT_COOKIE = "referral_sso_session"


def _approved_and_signed_in(
    browser: Callable[..., Browser], idp: TestProvider, world: DemoWorld, runtime: Runtime
) -> Browser:
    person = browser()
    sign_in(person, idp, "olly")
    admin = browser("admin")
    approve_as_new_user(admin, identity_of(runtime, world.actors["admin"].network_id).id, world)
    assert sign_in(person, idp, "olly").headers["location"] == "/"
    person.get("/queue")  # the page's CSRF token, for the sign-out form
    return person


def _sessions(runtime: Runtime) -> list[int]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(WebSession.user_id)))


def test_signing_out_ends_our_session_then_sends_the_browser_to_the_providers_end_session(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld,
) -> None:  # fmt: skip
    person = _approved_and_signed_in(browser, idp, world, runtime)
    assert person.client.cookies.get(SIGN_OUT_COOKIE, path="/logout")
    signed_in = set(_sessions(runtime))

    out = person.post("/logout")
    assert out.status_code == 200, out.text
    url = out.headers["refresh"].split("url=", 1)[1]
    assert url.startswith(f"{idp.issuer}/logout?")
    assert "Sign out of Test ID (client-here)" in out.text and "You are signed out" in out.text
    query = parse_qs(urlsplit(url).query)
    assert set(query) == {"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}
    assert query["client_id"] == ["client-here"]
    assert query["post_logout_redirect_uri"] == [f"{BASE}/login"]
    # Our session ended before the browser left: the page and the database say so.
    assert person.client.get("/queue", follow_redirects=False).status_code in (302, 303)
    assert len(set(_sessions(runtime))) == len(signed_in) - 1
    assert SIGN_OUT_COOKIE not in person.client.cookies

    # The provider, over HTTP, accepts the hint and sends the browser back with the state.
    forged = url.replace("id_token_hint=", "id_token_hint=x", 1)
    assert requests.get(forged, allow_redirects=False, timeout=10).status_code == 400
    back = requests.get(url, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    assert back.headers["location"] == f"{BASE}/login?state={query['state'][0]}"
    assert idp.signed_out == [(idp.people["olly"].subject, "client-here")]
    assert person.get(back.headers["location"].removeprefix(BASE)).status_code == 200


def test_without_an_end_session_endpoint_signing_out_stays_here(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld,
) -> None:  # fmt: skip
    idp.end_session = False
    person = _approved_and_signed_in(browser, idp, world, runtime)
    out = person.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert idp.signed_out == []


def test_a_password_session_is_never_sent_to_the_provider(
    browser: Callable[..., Browser], sso: Settings, idp: TestProvider, runtime: Runtime,
    world: DemoWorld,
) -> None:  # fmt: skip
    person = _approved_and_signed_in(browser, idp, world, runtime)
    planted = person.client.cookies.get(SIGN_OUT_COOKIE, path="/logout")
    other = browser("coordinator")
    # Another session's sign-out cookie speaks for that session only.
    other.client.cookies.set(SIGN_OUT_COOKIE, planted, domain="testserver.local", path="/logout")
    assert other.client.cookies.get(SIGN_OUT_COOKIE, path="/logout") == planted
    out = other.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert idp.signed_out == []
