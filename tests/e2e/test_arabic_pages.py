"""Issue 13 (languages): a reader who asks for Arabic reads Arabic on the case pages.

The case page at several stages, its history, the queue, the meeting page and "my
referrals", as each role that works a case, with `Accept-Language: ar`: no word in Latin
script except data the page names as it is (people's, organisations' and the network's
names, case references, the brand, the network's time zone, the language chooser's own
names, and what the test's own cases were written with). The allowlist is read from the
world the test built, never from the pages it checks.
"""

import dataclasses
import re
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from referral import i18n
from referral.db.tables import Case, Network, Organisation, User
from referral.demo import DemoWorld
from referral.domain.references import initials
from referral.services import lifecycle, panel
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser
from tests.e2e.test_plain_words import visible_text
from tests.factories import (
    referral_command,
    schedule,
    submit,
    to_awaiting_panel,
    to_consent_pending,
    to_information_gathering,
    to_support,
)

Browse = Callable[..., Browser]
ARABIC = {"Accept-Language": "ar"}
REVIEW_NOTES = "Doing well."
CONTRIBUTION = "MARK-CONTRIBUTION"
# What the factories type into the cases' free-text answers (tests/factories.py): the
# deconfliction result, the question asked of the health agency and its answer, and the
# guardian's name. Data, shown as written.
FACTORY_ANSWERS = ("no match", "Known?", "No.")
MARKERS = re.compile(r"MARK-[A-Z]+")
# A run of Latin-script words, with what joins them (spaces, punctuation, digits).
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9'\u2019.,:;()/ -]*[A-Za-z]|[A-Za-z]")
# The brand, in the page's header and at the end of its title: a name, not a word of the
# page's language.
BRAND = re.compile(r'<a class="brand"[^>]*>referral</a>|\u2013 referral</title>')


@dataclasses.dataclass(frozen=True)
class Walk:
    paths: list[str]
    data: list[str]  # longest first


def _strings(value: object) -> Iterator[str]:
    """Every text a command carries, its nested details' too."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _strings(getattr(value, f.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _strings(item)


@pytest.fixture
def walk(world: DemoWorld, runtime: Runtime) -> Walk:
    held = schedule(world, runtime)
    supported, _ = to_support(world, held)
    world.run(
        "coordinator",
        lifecycle.record_review,
        lifecycle.RecordReview(supported, "follow_up_6m", REVIEW_NOTES),
    )
    pending = to_consent_pending(world, schedule(world, runtime))
    upcoming = schedule(world, runtime)
    on_agenda = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(upcoming, (on_agenda,)))
    world.run(
        "panel", panel.add_contribution, panel.AddContribution(on_agenda, upcoming, CONTRIBUTION)
    )
    cases = [submit(world), to_information_gathering(world), on_agenda, pending, supported]
    paths = ["/queue", "/referrals", "/meetings", f"/meetings/{held}", f"/meetings/{upcoming}"]
    for case_id in cases:
        paths += [f"/cases/{case_id}", f"/cases/{case_id}/history"]

    with runtime.session_factory() as session:
        names = [
            *session.scalars(select(User.display_name)),
            *session.scalars(select(Organisation.name)),
            *session.scalars(select(Network.name)),
            *(r for r in session.scalars(select(Case.reference)) if r),
            *session.scalars(select(Network.time_zone)),
        ]
    # A zone a form names: the meeting page's summons window is entered in UTC.
    names.append("UTC")
    typed = [s for s in _strings(referral_command()) if s]
    subject = referral_command().subject
    data = [
        *names,
        *typed,
        initials(subject.given_name, subject.family_name),
        *i18n.LANGUAGES.values(),
        *FACTORY_ANSWERS,
        REVIEW_NOTES,
    ]
    return Walk(paths, sorted({d.strip() for d in data if d.strip()}, key=len, reverse=True))


def latin_words(page: str, data: list[str]) -> list[str]:
    """The runs of Latin-script words a page shows once the data it names is taken out,
    each once."""
    page = BRAND.sub(" ", page)
    text = visible_text(page)
    for known in data:
        text = text.replace(known, " ")
    text = MARKERS.sub(" ", text)
    return list(dict.fromkeys(m.group() for m in LATIN.finditer(text)))


@pytest.mark.parametrize("role", ["coordinator", "chair", "referrer", "provider", "dpo"])
def test_an_arabic_reader_reads_no_english(browser: Browse, walk: Walk, role: str) -> None:
    b = browser(role)
    read: list[str] = []
    found: dict[str, list[str]] = {}
    for path in walk.paths:
        response = b.get(path, headers=ARABIC)
        if response.status_code != 200:  # not this role's page: refused, never shown
            continue
        assert 'lang="ar"' in response.text, path
        read.append(path)
        words = latin_words(response.text, walk.data)
        if words:
            found[path] = words
    assert any(p.startswith("/cases/") for p in read), f"{role} opened no case: {read}"
    report = "\n".join(f"{path}:\n  " + "\n  ".join(words) for path, words in found.items())
    assert not found, f"{role} reads English in Arabic:\n{report}"
