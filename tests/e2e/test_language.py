"""The language a person reads in (issue 13): their own choice on the account page, else
their browser's `Accept-Language`, else their network's default, else English; Arabic and
Urdu pages read right to left. An unknown language is refused, nothing stored."""

import re
from collections.abc import Callable

from sqlalchemy import select, update

from referral import i18n
from referral.db.tables import ApiToken, AuditEntry, Network, User
from referral.demo import DemoWorld
from referral.services.uow import Runtime
from tests.e2e.conftest import Api, Browser


def chosen(runtime: Runtime, world: DemoWorld, who: str) -> str | None:
    with runtime.session_factory() as session:
        user_id = world.actors[who].user_id
        return session.scalars(select(User.language).where(User.id == user_id)).one()


def html_tag(text: str) -> str:
    return text[text.index("<html") : text.index(">", text.index("<html")) + 1]


def test_a_person_chooses_french_and_the_account_page_comes_back_in_it(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    coordinator = browser("coordinator")
    page = coordinator.get("/account")
    assert html_tag(page.text) == '<html lang="en" dir="ltr">'
    assert '<option value="fr" lang="fr">Français</option>' in page.text
    answer = coordinator.post("/account/language", {"language": "fr"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account?done=language"
    assert chosen(runtime, world, "coordinator") == "fr"
    back = coordinator.get("/account?done=language")
    assert html_tag(back.text) == '<html lang="fr" dir="ltr">'
    assert '<option value="fr" lang="fr" selected>' in back.text
    assert 'class="notice notice-success"' in back.text
    with runtime.session_factory() as session:
        audited = session.execute(
            select(AuditEntry.actor_user_id, AuditEntry.target).where(
                AuditEntry.action == "auth:language_chosen"
            )
        ).all()
    user_id = world.actors["coordinator"].user_id
    assert [tuple(row) for row in audited] == [(user_id, f"user:{user_id}")]


def test_a_macro_imported_without_context_reads_in_the_pages_language(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    """The token table (a macro of _tokens.html, imported without context) writes its
    dates the way the reader's language does, in the network's time zone."""
    coordinator = browser("coordinator")
    coordinator.get("/account")
    coordinator.post("/account/language", {"language": "fr"})
    coordinator.post("/account/tokens", {"label": "nightly export"})
    with runtime.session_factory() as session:
        created = session.scalars(
            select(ApiToken.created_at).where(ApiToken.label == "nightly export")
        ).one()
        zone = session.scalars(
            select(Network.time_zone).where(Network.id == world.actors["coordinator"].network_id)
        ).one()
    french = i18n.format_datetime(created, i18n.Reading("fr", i18n.zone(zone)))
    english = i18n.format_datetime(created, i18n.Reading("en", i18n.zone(zone)))
    assert french != english
    page = coordinator.get("/account").text
    assert f"<td>{french}</td>" in page
    assert english not in page


def test_arabic_reads_right_to_left(browser: Callable[..., Browser]) -> None:
    coordinator = browser("coordinator")
    coordinator.get("/account")
    assert coordinator.post("/account/language", {"language": "ar"}).status_code == 303
    assert html_tag(coordinator.get("/account").text) == '<html lang="ar" dir="rtl">'
    # The whole product reads in it, not the account page alone.
    assert html_tag(coordinator.get("/queue").text) == '<html lang="ar" dir="rtl">'


def test_automatic_follows_the_browser(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    coordinator = browser("coordinator")
    coordinator.get("/account")
    coordinator.post("/account/language", {"language": "fr"})
    assert coordinator.post("/account/language", {"language": ""}).status_code == 303
    assert chosen(runtime, world, "coordinator") is None
    page = coordinator.get("/account", headers={"Accept-Language": "ur"})
    assert html_tag(page.text) == '<html lang="ur" dir="rtl">'
    assert '<option value="" selected>' in page.text
    # Without a header, English (the demo network's default).
    assert html_tag(coordinator.get("/account").text) == '<html lang="en" dir="ltr">'


def test_with_no_choice_and_no_header_the_network_default_is_read(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    with runtime.session_factory() as session:
        session.execute(
            update(Network)
            .where(Network.id == world.actors["coordinator"].network_id)
            .values(languages="fr,en")
        )
        session.commit()
    coordinator = browser("coordinator")
    assert html_tag(coordinator.get("/account").text) == '<html lang="fr" dir="ltr">'
    # The browser's language still comes before the network's.
    page = coordinator.get("/account", headers={"Accept-Language": "ar, en;q=0.5"})
    assert html_tag(page.text) == '<html lang="ar" dir="rtl">'


def test_an_unknown_language_is_refused_and_nothing_is_stored(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    coordinator = browser("coordinator")
    coordinator.get("/account")
    coordinator.post("/account/language", {"language": "en"})  # the message is read in English
    for unknown in ("xx", "fr-CA", "<script>", "e" * 300):
        answer = coordinator.post("/account/language", {"language": unknown})
        assert answer.status_code == 422, unknown
        assert "Choose one of the languages offered" in answer.text
        assert "<script>" not in answer.text
    assert chosen(runtime, world, "coordinator") == "en"


def test_the_choice_needs_the_forms_csrf_token(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    coordinator = browser("coordinator")
    coordinator.get("/account")
    coordinator.csrf = "forged"
    assert coordinator.post("/account/language", {"language": "ar"}).status_code == 403
    assert chosen(runtime, world, "coordinator") is None


def test_the_api_answers_its_errors_in_the_language_asked_for(api: Api) -> None:
    """Codes and field names stay English; the title and message a person reads do not."""
    english = api.get("coordinator", "/api/cases/999999").json()
    headers = {**api.auth("coordinator"), "Accept-Language": "ar"}
    arabic = api.client.get("/api/cases/999999", headers=headers).json()
    assert english["status"] == arabic["status"] == 404
    assert arabic["error"] == i18n.gettext("ar", english["error"]) != english["error"]
    # "case {case} not found": the sentence translated, the number put in after.
    assert "999999" in arabic["message"] and "999999" in english["message"]
    assert not re.search("[A-Za-z]", arabic["message"]), arabic["message"]
