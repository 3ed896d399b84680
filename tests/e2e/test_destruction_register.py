"""The data-protection officer's destruction register, over HTTP."""

from collections.abc import Callable

import pytest

from referral.demo import DemoWorld
from referral.services.erasure import EraseSubject, erase_subject
from referral.services.uow import Runtime, UnitOfWork
from tests.e2e.conftest import Browser
from tests.factories import closed_no_action, subject_of


def test_dpo_sees_each_erasure_with_its_basis_and_no_content(
    browser: Callable[..., Browser], world: DemoWorld, runtime: Runtime
) -> None:
    b = browser("dpo")
    assert "Nothing has been erased" in b.get("/audit/destructions").text
    case_id = closed_no_action(world)
    subject_id = subject_of(runtime, case_id)
    with UnitOfWork(runtime) as uow:
        erase_subject(uow, None, EraseSubject(subject_id, "Request ref R-2026-04"))

    page = b.get("/audit/destructions")
    assert page.status_code == 200
    assert f'href="/audit/reports/case/{case_id}"' in page.text
    assert "(Closed: no further action)" in page.text
    assert "Request ref R-2026-04" in page.text and "the operator" in page.text
    assert "Testy" not in page.text
    assert 'href="/audit/destructions"' in b.get("/audit").text


@pytest.mark.parametrize("username", ["coordinator", "referrer", "provider"])
def test_others_may_not_see_the_register(browser: Callable[..., Browser], username: str) -> None:
    assert browser(username).get("/audit/destructions").status_code == 403
