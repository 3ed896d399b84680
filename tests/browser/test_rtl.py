"""Right to left (issue 13): a person who reads Arabic gets `dir="rtl"` pages whose whole
layout mirrors (app.css uses logical properties only): the header starts at the right
edge, nothing scrolls sideways on a 375 px phone, and axe finds nothing serious."""

import pytest
from playwright.sync_api import Browser, Page

from referral.demo import DemoWorld
from referral.services import people
from tests.browser.conftest import SCREENSHOTS, Visit, new_page, settings_for_screenshots, sign_in
from tests.factories import submit

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
WIDTH_OF = "[document.documentElement.scrollWidth, window.innerWidth]"


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def test_arabic_pages_mirror_and_fit_a_phone(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    case_id = submit(world)
    world.run("coordinator", people.choose_language, "ar")
    try:
        wide = new_page(chromium, base_url)
        sign_in(wide, "coordinator")
        wide.goto("/account")
        assert wide.evaluate("document.documentElement.dir") == "rtl"
        assert wide.evaluate("document.documentElement.lang") == "ar"
        inner = wide.evaluate("window.innerWidth")
        # The brand, where a page starts, sits at the right edge; the signed-in person's
        # links after it, to its left.
        brand = _box(wide, ".brand")
        assert brand["x"] + brand["width"] > inner - 80, (brand, inner)
        assert brand["x"] > inner / 2, brand
        sign_out = _box(wide, ".who form button")
        assert sign_out["x"] + sign_out["width"] < brand["x"], (sign_out, brand)
        # The summary's terms start on the right too.
        term = _box(wide, ".summary dt")
        assert term["x"] + term["width"] > inner / 2, term
        # The skip link waits off screen, and comes in at the right edge when focused.
        wide.keyboard.press("Tab")
        skip = _box(wide, ".skip-link")
        assert skip["x"] + skip["width"] >= inner - 2, (skip, inner)
        visit.check(wide)
        # A confirmation's bar is on its starting side: the right.
        wide.goto("/account?done=language")
        notice = wide.locator(".notice").first
        assert notice.evaluate("n => getComputedStyle(n).borderRightWidth") == "6px"
        assert notice.evaluate("n => getComputedStyle(n).borderLeftWidth") == "0px"
        visit.check(wide)
        if settings_for_screenshots():
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            wide.screenshot(path=str(SCREENSHOTS / "rtl-account.png"), full_page=True)

        phone = wide.context.browser.new_context(base_url=base_url, viewport=PHONE)  # type: ignore[union-attr]
        small = phone.new_page()
        sign_in(small, "coordinator")
        for path in (f"/cases/{case_id}", "/queue", "/account"):
            answer = small.goto(path)
            assert answer is not None and answer.ok, path
            assert small.evaluate("document.documentElement.dir") == "rtl"
            scroll, width = small.evaluate(WIDTH_OF)
            assert scroll <= width, f"{path} is {scroll} px wide at {width} px"
            visit.check(small)
            if settings_for_screenshots():
                name = "rtl-phone-" + path.strip("/").split("/")[0]
                small.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        # The menu's button follows the brand, to its left.
        menu = small.locator(".menu > summary")
        folded_at = menu.evaluate(
            "m => { const r = document.createRange(); r.selectNodeContents(m);"
            " return r.getBoundingClientRect().right; }"
        )
        assert folded_at <= _box(small, ".brand")["x"] + 1, folded_at
        # The queue's stacked rows read from the right, each cell headed by its column.
        small.goto("/queue")
        cell = small.locator("#queue-table td[data-label]").first
        assert cell.evaluate("td => getComputedStyle(td).textAlign") in ("start", "right")
        assert cell.evaluate("td => getComputedStyle(td).direction") == "rtl"
        phone.close()
    finally:
        world.run("coordinator", people.choose_language, None)
