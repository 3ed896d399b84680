"""A policy with no rule at all (a dpo's proposal may be one) loads, and refuses everything."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role


def test_a_policy_without_rules_loads_and_refuses_everything(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / "policies" / "model.conf", tmp_path / "model.conf")
    (tmp_path / "default.csv").write_text("# nothing is shared\n", encoding="utf-8")
    authz = Authorizer(tmp_path)
    coordinator = Actor(1, 1, OrgKind.POLICE, 1, "city", frozenset({Role.COORDINATOR}))
    assert authz.rules == ()
    assert not authz.permission(coordinator, "audit:read", None, datetime.now(UTC)).allowed
