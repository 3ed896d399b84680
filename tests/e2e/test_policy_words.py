"""The sharing agreement's words read in the reader's language (issue 13): why a case's
kinds of information are shown or hidden, and the dpo's agreement and impact pages. Only
data keeps its own script: codes in <code>, case numbers, the policy file being edited.

These read the catalogues: `make messages` and the translations merged into them."""

import html
import re
from collections.abc import Callable
from pathlib import Path

from referral.demo import DemoWorld
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Purpose
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser
from tests.factories import schedule, submit, to_support

LATIN = re.compile(r"[A-Za-z]+")
CRIMINAL = "p, coordinator, *, criminal, read, !in_state(draft), screening, crime_prevention, allow"


def words(fragment: str) -> str:
    """The text a person reads in an HTML fragment, without its codes and tags."""
    fragment = re.sub(r"<code>.*?</code>", " ", fragment, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def latin(fragment: str) -> list[str]:
    return LATIN.findall(words(fragment))


def in_arabic(browser: Callable[..., Browser], who: str) -> Browser:
    person = browser(who)
    person.get("/account")
    assert person.post("/account/language", {"language": "ar"}).status_code == 303
    return person


def test_a_provider_reads_why_in_arabic(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    scope = (ConsentScope(Category.SUPPORT, OrgKind.CIVIL_SOCIETY, Purpose.SUPPORT),)
    case_id, _ = to_support(world, schedule(world, runtime), scope)
    page = in_arabic(browser, "provider").get(f"/cases/{case_id}")
    assert page.status_code == 200
    whys = re.findall(r'<p class="why"[^>]*>(.*?)</p>', page.text, flags=re.S)
    assert len(whys) >= 3  # shown, kept from a provider, not shown now
    for why in whys:
        assert not latin(why), why
    # Shown, hidden by a deny rule, and hidden until something changes, each in Arabic.
    assert any("تمت مشاركتها معك بصفتك" in why for why in whys)
    assert any("تحجب اتفاقية المشاركة" in why for why in whys)
    assert any("غير معروضة الآن" in why for why in whys)


def test_a_coordinator_reads_purpose_and_basis_in_arabic(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    page = in_arabic(browser, "coordinator").get(f"/cases/{case_id}")
    whys = re.findall(r'<p class="why"[^>]*>(.*?)</p>', page.text, flags=re.S)
    assert whys and all(not latin(why) for why in whys), [w for w in whys if latin(w)]
    assert any("الأساس القانوني: منع الجريمة" in why for why in whys)


def test_the_dpo_reads_the_agreement_and_its_impact_in_arabic(
    browser: Callable[..., Browser], world: DemoWorld, live: Path
) -> None:
    case_id = submit(world)
    dpo = in_arabic(browser, "dpo")
    form = dpo.get("/policy/impact")
    assert form.status_code == 200
    agreement = form.text.split('<section aria-labelledby="agreement-title">')[1]
    agreement = agreement.split("</section>")[0]
    assert "<code>provider</code>" in agreement  # roles named by their code, as data
    assert not latin(agreement), sorted(set(latin(agreement)))
    assert "مقدّم خدمات الدعم" in agreement  # the provider's section, its title in Arabic

    proposal = (live / "default.csv").read_text(encoding="utf-8").replace(CRIMINAL + "\n", "")
    preview = dpo.post("/policy/impact", {"policy": proposal})
    assert preview.status_code == 200
    impact = preview.text.split('<section aria-labelledby="impact-title">')[1]
    impact = impact.split("<form")[0]
    heading, impact = impact.split("</h2>", 1)  # "Impact on <the network's name>": data
    assert "الأثر على" in heading
    assert f'href="/cases/{case_id}"' in impact
    assert "<code>criminal (read)</code>" in impact  # the subject's code beside its words
    assert "الاطلاع على البيانات الجنائية" in impact
    assert not latin(impact), sorted(set(latin(impact)))
