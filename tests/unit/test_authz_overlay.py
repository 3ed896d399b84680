"""A network's overlay (`policies/network-<slug>.csv`): its lines apply to that network
alone, and a line naming another network, or every network, is refused by file and line."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from referral.authz.enforcer import Authorizer, overlay_rules
from referral.config import PROJECT_ROOT
from referral.domain.actors import Actor
from referral.domain.errors import ConfigurationError
from referral.domain.vocabulary import OrgKind, Role

SHARED = "p, coordinator, *, status, read, true, screening, public_task, allow\n"
OVERLAY = "p, coordinator, harbour, audit, read, true, audit, legal_obligation, allow\n"


def _policy(tmp_path: Path, overlay: str) -> Path:
    shutil.copy(PROJECT_ROOT / "policies" / "model.conf", tmp_path / "model.conf")
    (tmp_path / "default.csv").write_text(SHARED, encoding="utf-8")
    (tmp_path / "network-harbour.csv").write_text("# Harbour's own\n" + overlay, "utf-8")
    return tmp_path


def _coordinator(slug: str) -> Actor:
    return Actor(1, 1, OrgKind.LOCAL_AUTHORITY, 1, slug, frozenset({Role.COORDINATOR}))


def test_an_overlay_applies_to_its_network_alone(tmp_path: Path) -> None:
    authz = Authorizer(_policy(tmp_path, OVERLAY))
    now = datetime.now(UTC)
    assert authz.permission(_coordinator("harbour"), "audit:read", None, now).allowed
    assert not authz.permission(_coordinator("demo-city"), "audit:read", None, now).allowed
    [own] = overlay_rules(authz.rules, "harbour")
    assert own.where.endswith("network-harbour.csv: line 2")
    assert overlay_rules(authz.rules, "demo-city") == ()


@pytest.mark.parametrize("names", ["*", "demo-city"])
def test_an_overlay_line_naming_another_network_is_refused_by_file_and_line(
    tmp_path: Path, names: str
) -> None:
    line = OVERLAY.replace("harbour", names)
    with pytest.raises(ConfigurationError) as refused:
        Authorizer(_policy(tmp_path, line))
    message = refused.value.message
    assert "network-harbour.csv: line 2" in message
    assert f"names {names!r}" in message and "'harbour'" in message
