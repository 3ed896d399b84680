"""The hash format of the audit chain is fixed: existing chains must keep verifying."""

import json
from datetime import UTC, datetime

from referral.audit.chain import entry_hash
from referral.audit.idwalk import needs_no_escape

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


def test_strings_pass_as_they_are_only_where_json_dumps_writes_them_so() -> None:
    # PostgreSQL's plain rendering quotes strings as they are: verify takes it only for
    # strings in which needs_no_escape finds nothing json.dumps would escape.
    # Every character up to U+02FF and a few further: a quote, a backslash and the
    # control characters are escaped, DEL and everything outside ASCII are not.
    characters = [chr(c) for c in range(0x300)] + ["\u2028", "\ufeff", "✓", "\U0001f600"]
    for character in characters:
        text_ = f"a{character}b"
        as_is = json.dumps(text_, ensure_ascii=False) == f'"{text_}"'
        assert needs_no_escape(text_.encode()) is as_is, repr(character)
    assert needs_no_escape("règle « é »".encode() + b"coordinator" * 1000)
    assert not needs_no_escape(b"coordinator" * 1000 + b'"')
    assert not needs_no_escape(None)
