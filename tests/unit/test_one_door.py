"""Services reach the data through the scope (services/scope.py): no hand-written network
check, and the plain session only through `uow.unscoped(reason)`.

A source check, like the import contract: it holds the line where a reviewer could miss
one `uow.session` among hundreds of lines.
"""

import re
from pathlib import Path

import pytest

from referral.config import PROJECT_ROOT

SERVICES = PROJECT_ROOT / "src" / "referral" / "services"

# Where the plain session is still reached directly, and why.
SESSION_ALLOWED = {
    "uow.py": "the unit of work owns the session",
    "scope.py": "the scope is built on it",
    "auth.py": "sign-in and web sessions come before a network is chosen",
    # The audit log's readers: their network clause comes from scope.in_network, and
    # their entry queries are left to the audit log's redesign (sequencing).
    "audit_view.py": "audit readers",
    "access_report.py": "audit readers",
    "timeline.py": "audit readers (the case itself came through the scope)",
}
HAND_WRITTEN = re.compile(r"network_id\s*[!=]=\s*actor\.network_id")


def modules() -> list[Path]:
    return sorted(SERVICES.glob("*.py"))


def test_the_services_package_is_where_the_check_looks() -> None:
    assert len(modules()) > 20


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_no_service_writes_the_network_check_by_hand(path: Path) -> None:
    assert HAND_WRITTEN.findall(path.read_text()) == []


@pytest.mark.parametrize(
    "path", [p for p in modules() if p.name not in SESSION_ALLOWED], ids=lambda p: p.name
)
def test_the_plain_session_is_reached_only_with_a_reason(path: Path) -> None:
    assert "uow.session" not in path.read_text()


@pytest.mark.parametrize("name", sorted(SESSION_ALLOWED))
def test_each_exception_still_uses_the_plain_session(name: str) -> None:
    # An exception that no longer needs it comes off the list.
    text = (SERVICES / name).read_text()
    assert "uow.session" in text or "self.session" in text


def test_the_check_would_catch_both_kinds_of_slip() -> None:
    assert HAND_WRITTEN.findall("if case.network_id != actor.network_id:")
    assert HAND_WRITTEN.findall("Case.network_id == actor.network_id")
