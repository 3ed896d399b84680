"""The hash format of the audit chain is fixed: existing chains must keep verifying."""

from datetime import UTC, datetime

from referral.audit.chain import entry_hash

BODY = {
    "seq": 7,
    "at": datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC),
    "actor_user_id": 3,
    "actor_org_id": None,
    "actor_role": "coordinator",
    "network_id": 1,
    "action": "case.read",
    "case_id": 42,
    "target": "notes",
    "categories": "identity,special",
    "allowed": True,
    "rule": 'r1 "quoted" é\n',
    "purpose": "support",
    "legal_basis": "public_task",
    "request_id": "req-1",
    "workflow_hash": "w" * 64,
    "policy_hash": "p" * 64,
    "change_digest": "",
}


def test_entry_hash_of_a_fixed_body_never_changes() -> None:
    # Computed with the implementation the first chains were written with.
    assert entry_hash("a" * 64, BODY) == (
        "76cb6b43891fe1e1cf10b657d7510b227dafcaa58328fcf81d9439ca030a34cb"
    )
