"""An outside auditor verifies the log and a checkpoint with their own code, written from
docs/audit-format.md alone: the verifier below imports nothing from `referral` (stdlib
sqlite3, hashlib, json, base64, and `cryptography` for Ed25519)."""

import base64
import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# -- the auditor's verifier: nothing from referral ---------------------------------------

HASHED = (
    "seq", "at", "actor_user_id", "actor_org_id", "actor_role", "network_id", "action",
    "case_id", "target", "categories", "allowed", "rule", "purpose", "legal_basis",
    "request_id", "workflow_hash", "policy_hash", "change_digest",
)  # fmt: skip
GENESIS = "0" * 64


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def audit_log(path: Path) -> dict[str, tuple[int, str]]:
    """Every chain's head after checking each entry; raises at the first bad one."""
    db = sqlite3.connect(path)
    columns = ", ".join(HASHED)
    rows = db.execute(
        f"SELECT chain, {columns}, prev_hash, hash FROM audit_log "
        "WHERE seq IS NOT NULL ORDER BY chain, seq"
    )
    heads: dict[str, tuple[int, str]] = {}
    for chain, *values, prev_hash, stored in rows:
        body = dict(zip(HASHED, values, strict=True))
        body["at"] = body["at"][:10] + "T" + body["at"][11:] + "Z"  # SQLite keeps UTC text
        body["allowed"] = bool(body["allowed"])  # SQLite keeps 0 and 1
        seq, last = heads.get(chain, (0, GENESIS))
        network = body["network_id"]
        owner = "national" if network is None else f"network:{network}"
        assert chain in ("legacy", owner), f"{chain} {body['seq']}: in another chain"
        assert body["seq"] == seq + 1, f"{chain} {seq + 1}: missing"
        assert prev_hash == last, f"{chain} {body['seq']}: unlinked"
        assert hashlib.sha256(last.encode() + canonical(body)).hexdigest() == stored, (
            f"{chain} {body['seq']}: altered"
        )
        heads[chain] = (body["seq"], stored)
    for chain, seq, head_hash in db.execute("SELECT chain, seq, hash FROM audit_head"):
        assert heads.get(chain, (0, GENESIS)) == (seq, head_hash), f"{chain}: head differs"
    return heads


def checkpoint(document: str, public_key: str, heads: dict[str, tuple[int, str]]) -> None:
    """The checkpoint is signed by `public_key` and the log still holds each of its heads."""
    doc = json.loads(document)
    assert doc["format"] == "referral-audit-checkpoint/2"
    signed = {key: doc[key] for key in ("at", "format", "heads", "policy_hash")}
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    key.verify(base64.b64decode(doc["signature"]), canonical(signed))
    for head in doc["heads"]:
        assert heads.get(head["chain"], (0, GENESIS))[0] >= head["seq"], "truncated"


def entry_hash(path: Path, chain: str, seq: int) -> str:
    row = sqlite3.connect(path).execute(
        "SELECT hash FROM audit_log WHERE chain = ? AND seq = ?", (chain, seq)
    )
    return str(row.fetchone()[0])


# -- the log, filled by the services -----------------------------------------------------


@pytest.fixture
def filled(tmp_path: Path, authz: object, workflows: object, clock: object) -> tuple[Path, str]:
    """A SQLite log the services filled, sequenced, and a checkpoint of it."""
    from referral.audit import checkpoint as checkpoints
    from referral.audit.sequencer import sequence_pending
    from referral.audit.verify import latest_policy_hash, verify
    from referral.db.engine import make_engine, make_session_factory
    from referral.db.migrate import upgrade
    from referral.services.referrals import read_case
    from referral.services.uow import Runtime
    from referral.workflow.machine import WorkflowEngine
    from tests.conftest import TEST_KEYRING
    from tests.factories import make_world, schedule, to_support

    path = tmp_path / "audited.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    factory = make_session_factory(engine, TEST_KEYRING)
    runtime = Runtime(factory, authz, workflows, WorkflowEngine(), clock)  # type: ignore[arg-type]
    world = make_world(runtime)
    case_id, _ = to_support(world, schedule(world, runtime))
    world.run("coordinator", read_case, case_id)  # a read: its categories' decisions, as JSON
    sequence_pending(factory)
    private, public = checkpoints.new_key_pair()
    with factory() as session:
        head = verify(session)
        document = checkpoints.sign(
            head,
            policy_hash=latest_policy_hash(session),
            at=datetime(2026, 3, 2, 18, tzinfo=UTC),
            key=checkpoints.private_key(private),
        )
    engine.dispose()
    return path, document + public


def test_outside_verifier_checks_the_log_and_the_checkpoint(filled: tuple[Path, str]) -> None:
    path, both = filled
    document, public = both.rsplit("\n", 1)
    heads = audit_log(path)
    assert heads["network:1"][0] >= 15
    reads = sqlite3.connect(path).execute("SELECT rule FROM audit_log WHERE action = 'case:read'")
    assert any(rule.startswith('{"read":{') for (rule,) in reads)  # verified like the rest
    checkpoint(document, public, heads)
    assert json.loads(document)["heads"] == [
        {"chain": chain, "hash": hash_, "seq": seq}
        for chain, (seq, hash_) in sorted({"legacy": (0, GENESIS), **heads}.items())
    ]
    assert entry_hash(path, "network:1", heads["network:1"][0]) == heads["network:1"][1]


def test_outside_verifier_finds_an_altered_entry_and_a_forged_checkpoint(
    filled: tuple[Path, str],
) -> None:
    path, both = filled
    document, public = both.rsplit("\n", 1)
    forged = json.loads(document)
    forged["heads"][-1]["seq"] += 1
    with pytest.raises(InvalidSignature):
        checkpoint(json.dumps(forged), public, audit_log(path))
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET action = 'case:erase' WHERE chain = 'network:1' AND seq = 3")
    db.commit()
    with pytest.raises(AssertionError, match="network:1 3: altered"):
        audit_log(path)
