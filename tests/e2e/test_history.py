"""The case page's history: moves and disclosures to other people, the viewer's own reads
left out; the full history, reads included, a page at a time behind a link."""

import re
from collections.abc import Callable

from referral.demo import DemoWorld
from tests.e2e.conftest import Browser
from tests.factories import submit

# A move reads as its button's words (the file's label), a read as the action recorded.
ROW = re.compile(
    r'<td data-label="Action">([A-Za-z][A-Za-z:_ ]*)</td>\s*<td data-label="By role">([^<]*)</td>'
)


def _actions(html: str) -> list[tuple[str, str]]:
    """(action, role) of each history row."""
    return [(a, r.strip()) for a, r in ROW.findall(html)]


def test_the_case_page_leaves_out_the_viewers_own_reads(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    referrer, coordinator = browser("referrer"), browser("coordinator")
    assert referrer.get(f"/cases/{case_id}").status_code == 200  # a disclosure to another
    for _ in range(3):
        page = coordinator.get(f"/cases/{case_id}")
    rows = _actions(page.text)
    assert ("Read the case", "Referrer") in rows
    assert ("Read the case", "Coordinator") not in rows
    assert ("Submit referral", "Referrer") in rows
    assert f"/cases/{case_id}/history" in page.text


def test_the_full_history_holds_every_read_and_pages_back(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    coordinator = browser("coordinator")
    for _ in range(30):  # more than a page of the coordinator's own reads
        coordinator.get(f"/cases/{case_id}")
    first = coordinator.get(f"/cases/{case_id}/history")
    assert first.status_code == 200
    assert ("Read the case", "Coordinator") in _actions(first.text)
    pages = [_actions(first.text)]
    html = first.text
    while older := re.search(rf'href="/cases/{case_id}/history\?before=(\d+)"', html):
        html = coordinator.get(f"/cases/{case_id}/history?before={older.group(1)}").text
        pages.append(_actions(html))
    assert len(pages) >= 3  # 60 reads and the submission: pages of 25
    assert all(len(p) == 25 for p in pages[:-1])
    assert ("Submit referral", "Referrer") in pages[-1]  # the oldest, on the last page
    assert ("Submit referral", "Referrer") not in pages[0]


def test_the_full_history_is_not_for_those_who_may_not_see_it(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    # The referrer may see their referral, not who looked at it.
    assert browser("referrer").get(f"/cases/{case_id}/history").status_code == 404
    assert browser("coordinator").get(f"/cases/{case_id}/history?before=0").status_code in (
        200,
        400,
    )


def test_the_history_says_what_each_read_showed_and_refused_in_words(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    assert browser("referrer").get(f"/cases/{case_id}").status_code == 200
    page = browser("coordinator").get(f"/cases/{case_id}")
    assert "<li>read identity information for screening, legal basis: public task</li>" in (
        page.text
    )
    assert "<li>refused special information: no rule allows it here</li>" in page.text
    assert "default.csv" not in page.text  # words, never rule syntax or rule ids
