"""Consent binds whole, cell by cell: a policy-test table generated across consent scopes.

For every grant a consent can hold (category x organisation kind x purpose), and for every
combination of the categories a provider may ever read, the table says what the provider
must be allowed: the categories the consent covers for their kind of organisation and for
support, the status once it covers anything for them, and nothing else. The policy-test
runner then checks every cell of the table, so everything it does not list must be denied.
"""

from itertools import combinations
from pathlib import Path
from typing import Any

import yaml

from referral.authz.enforcer import Authorizer
from referral.authz.policy_tests import run_table
from referral.domain.vocabulary import Category, Purpose

SHIPPED = Path(__file__).resolve().parents[2] / "policies"
# What a provider may read at all, each only as far as the consent covers it.
PROVIDER_READS = (
    Category.IDENTITY,
    Category.CONTACT,
    Category.CONCERN,
    Category.CONSENT,
    Category.SUPPORT,
    Category.SPECIAL,
)
MOVES = ["intervention:accept", "intervention:start", "intervention:complete"]
Grant = tuple[Category, str, Purpose]  # (category, to "actor" or "other", purpose)


def scopes() -> dict[str, list[Grant]]:
    """Each single grant, and each combination of the provider's categories for support."""
    found: dict[str, list[Grant]] = {"nothing": []}
    for category in Category:
        for to in ("actor", "other"):
            for purpose in Purpose:
                found[f"{category}-to-{to}-for-{purpose}"] = [(category, to, purpose)]
    for size in range(2, len(PROVIDER_READS) + 1):
        for chosen in combinations(PROVIDER_READS, size):
            name = "+".join(chosen)
            # Noise that covers nothing for them: the same data for the panel, and to others.
            found[name] = [(c, "actor", Purpose.SUPPORT) for c in chosen] + [
                (c, to, purpose)
                for c in chosen
                for to, purpose in (("actor", Purpose.PANEL), ("other", Purpose.SUPPORT))
            ]
    return found


def expected(grants: list[Grant]) -> list[dict[str, Any]]:
    """The cells the provider must be allowed under these grants (the rest: deny)."""
    theirs = {c for c, to, purpose in grants if to == "actor" and purpose is Purpose.SUPPORT}
    reads = sorted(str(c) for c in theirs if c in PROVIDER_READS)
    if theirs:  # the consent covers something for them: they may know the case exists
        reads = ["status", *reads]
    rows: list[dict[str, Any]] = [{"action": MOVES}]
    if reads:
        rows.append({"action": "read", "categories": reads})
    if Category.SUPPORT in theirs:
        rows.append({"action": "write", "categories": ["support"]})
        rows.append({"action": "intervention:record"})
    return rows


def table() -> dict[str, Any]:
    situations, expect = {}, []
    for name, grants in scopes().items():
        situations[name] = {
            "state": "support",
            "assigned": True,
            "consent": "given",
            "consent_grants": [
                {"category": str(c), "to": to, "purpose": str(p)} for c, to, p in grants
            ],
        }
        for row in expected(grants):
            expect.append(
                {"role": "provider", "org_kind": "*", "situation": name, **row, "expect": "allow"}
            )
    return {
        "org_kinds": ["civil_society", "private_sector", "health"],
        "roles": ["provider"],
        "situations": situations,
        "expect": expect,
    }


def test_the_provider_reads_exactly_what_the_consent_covers_in_every_scope(
    tmp_path: Path,
) -> None:
    generated = table()
    assert len(generated["situations"]) > 150  # not vacuous: every grant and combination
    path = tmp_path / "tests" / "consent_matrix.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(generated), encoding="utf-8")
    assert run_table(Authorizer(SHIPPED), path) == []


def test_the_matrix_would_catch_a_rule_that_reads_past_the_category_covered(
    tmp_path: Path,
) -> None:
    """The generated table fails a policy whose provider reads identity once the consent
    covers anything for them, whatever it covers."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "model.conf").write_text((SHIPPED / "model.conf").read_text())
    loose = (
        (SHIPPED / "default.csv")
        .read_text()
        .replace(
            "p, provider, *, identity, read, assigned & consent_covers,",
            "p, provider, *, identity, read, assigned & consent_covers_any,",
        )
    )
    (policies / "default.csv").write_text(loose)
    path = policies / "tests" / "consent_matrix.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(table()), encoding="utf-8")
    mismatches = run_table(Authorizer(policies), path)
    assert mismatches
    assert all("read identity: expected deny, got allow" in m for m in mismatches)
