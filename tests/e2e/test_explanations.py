"""Every field shown or hidden says why, in the sharing agreement's words: on the case page
and in the API, never in rule syntax, file names, user names or internal identifiers."""

import re
from collections.abc import Callable

from referral.demo import DemoWorld
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Purpose
from referral.services.uow import Runtime
from tests.e2e.conftest import Api, Browser
from tests.factories import schedule, to_support

# Rule syntax and identifiers that must not reach a person (the old reasons said "no rule
# lets referrer read special on case 25", "(allowed only when assigned & consent_covers)").
SYNTAX = re.compile(
    r"no rule lets|a deny rule says|allowed only when|default\.csv|consent_covers"
    r"|in_state\(|on_agenda|!in_state| & "
)
SUPPORT_ONLY = (ConsentScope(Category.SUPPORT, OrgKind.CIVIL_SOCIETY, Purpose.SUPPORT),)


def _whys(html: str) -> list[str]:
    return re.findall(r'<p class="why"[^>]*>([^<]+)</p>', html)


def test_the_case_page_says_why_each_category_is_shown_or_hidden(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime), SUPPORT_ONLY)
    page = browser("provider").get(f"/cases/{case_id}")
    assert page.status_code == 200
    whys = _whys(page.text)
    assert (
        "Shared with you as support provider, for giving support;"
        " legal basis: consent of the person." in whys
    )
    assert "The sharing agreement keeps this from a support provider." in whys  # narrative
    assert any(w.startswith("Not shown now: a support provider sees this when") for w in whys)
    assert not SYNTAX.search(page.text)
    assert "Parker Provider" not in " ".join(whys)  # no user names in the reasons


def test_the_coordinator_is_told_purpose_and_basis_of_each_category(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    whys = _whys(browser("coordinator").get(f"/cases/{case_id}").text)
    assert (
        "Shared with you as coordinator, for screening a referral;"
        " legal basis: prevention of crime." in whys
    )
    assert "Shared with you as coordinator, for giving support; legal basis: public task." in whys


def test_the_api_gives_every_field_its_reason(api: Api, runtime: Runtime, world: DemoWorld) -> None:
    case_id, _ = to_support(world, schedule(world, runtime), SUPPORT_ONLY)
    case = api.get("provider", f"/api/cases/{case_id}").json()
    assert all(f.get("reason") for f in case["fields"].values())
    assert case["fields"]["support_plan"]["reason"].startswith(
        "Shared with you as support provider"
    )
    assert case["fields"]["narrative"] == {
        "category": "narrative",
        "hidden": True,
        "reason": "The sharing agreement keeps this from a support provider.",
    }
    assert case["hidden"]["identity"].startswith("Not shown now:")
    assert not SYNTAX.search(str(case["fields"]) + str(case["hidden"]))
