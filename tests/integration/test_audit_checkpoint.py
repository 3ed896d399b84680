"""Signed checkpoints: a log that still extends its checkpoint passes; truncation, a
rollback to an older copy and a rewritten chain are found and named; a checkpoint that
is altered or signed by another key is refused."""

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from referral.audit import checkpoint as checkpoints
from referral.audit.chain import HASHED_FIELDS, entry_hash
from referral.audit.sequencer import sequence_pending
from referral.audit.verify import VerifyResult, latest_policy_hash, stored_hash, verify
from referral.db.engine import make_session_factory
from referral.db.tables import AuditEntry, AuditHead
from referral.domain.errors import ConfigurationError, ReferralError
from referral.services.uow import Runtime
from tests.conftest import TEST_KEYRING
from tests.factories import make_world, schedule, to_awaiting_panel, to_support
from tests.integration.test_audit_chain import drop_protection
from tests.integration.test_cli import referral

TAKEN_AT = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
CHAIN = "network:1"  # the chain of the network the factories' world works in
PRIVATE, PUBLIC = checkpoints.new_key_pair()
MakeRuntime = Callable[[], tuple[Runtime, Engine]]


@pytest.fixture
def make_runtime(
    fresh_database: Callable[[], Engine], authz: object, workflows: object, clock: object
) -> MakeRuntime:
    """A runtime on a database of its own that tests may commit to and tamper with."""
    from referral.workflow.machine import WorkflowEngine

    def make() -> tuple[Runtime, Engine]:
        engine = fresh_database()
        factory = make_session_factory(engine, TEST_KEYRING)
        return Runtime(factory, authz, workflows, WorkflowEngine(), clock), engine  # type: ignore[arg-type]

    return make


def take(runtime: Runtime, key: str = PRIVATE) -> str:
    sequence_pending(runtime.session_factory)
    with runtime.session_factory() as session:
        head = verify(session)
        policy_hash = latest_policy_hash(session)
    assert policy_hash
    return checkpoints.sign(
        head, policy_hash=policy_hash, at=TAKEN_AT, key=checkpoints.private_key(key)
    )


def check(runtime: Runtime, document: str) -> VerifyResult:
    checkpoint = checkpoints.load(document, checkpoints.verification_key(None, PUBLIC))
    with runtime.session_factory() as session:
        head = verify(session)
        recorded = {h.chain: stored_hash(session, h.chain, h.seq) for h in checkpoint.heads}
    return checkpoints.check_extends(checkpoint, head, recorded)


def seq_of(document: str) -> int:
    """The seq the checkpoint records for the world's chain."""
    checkpoint = checkpoints.load(document, checkpoints.verification_key(None, PUBLIC))
    return checkpoint.trusted_heads()[CHAIN].seq


MINE = AuditEntry.chain == CHAIN


def rewind(engine: Engine, backend: str, keep: int) -> None:
    """Delete the entries after `keep` and move the head back, as a careful intruder would."""
    drop_protection(engine, backend)
    with engine.begin() as connection:
        connection.execute(
            text("DELETE FROM audit_log WHERE chain = :chain AND seq > :keep"),
            {"chain": CHAIN, "keep": keep},
        )
        last = connection.scalar(select(AuditEntry.hash).where(MINE, AuditEntry.seq == keep))
        connection.execute(
            update(AuditHead).where(AuditHead.chain == CHAIN).values(seq=keep, hash=last)
        )


def rehash(engine: Engine) -> None:
    """Recompute every hash of the chain after an edit, so the chain alone verifies again."""
    columns = [getattr(AuditEntry, name) for name in HASHED_FIELDS]
    with engine.begin() as connection:
        rows = connection.execute(
            select(*columns).where(MINE, AuditEntry.seq.is_not(None)).order_by(AuditEntry.seq)
        ).all()
        prev_hash = "0" * 64
        for row in rows:
            new_hash = entry_hash(prev_hash, dict(row._mapping))
            connection.execute(
                update(AuditEntry)
                .where(MINE, AuditEntry.seq == row.seq)
                .values(prev_hash=prev_hash, hash=new_hash)
            )
            prev_hash = new_hash
        connection.execute(update(AuditHead).where(AuditHead.chain == CHAIN).values(hash=prev_hash))


def test_log_that_grew_after_the_checkpoint_extends_it(make_runtime: MakeRuntime) -> None:
    runtime, _ = make_runtime()
    world = make_world(runtime)
    meeting = schedule(world, runtime)
    document = take(runtime)
    to_support(world, meeting)
    result = check(runtime, document)
    assert result.ok, result.problem
    sequence_pending(runtime.session_factory)
    assert check(runtime, document).head(CHAIN).seq > seq_of(document)


def test_truncated_tail_is_named_against_the_checkpoint(
    make_runtime: MakeRuntime, backend: str
) -> None:
    runtime, engine = make_runtime()
    world = make_world(runtime)
    to_support(world, schedule(world, runtime))
    document = take(runtime)
    seq = seq_of(document)
    rewind(engine, backend, keep=10)
    with runtime.session_factory() as session:
        assert verify(session).ok  # the chain alone cannot tell
    result = check(runtime, document)
    assert not result.ok
    assert result.first_bad_seq == 11
    assert (
        f"the log ends at entry 10 but the checkpoint of 2026-03-02T18:00:00Z records entry {seq}"
        in result.problem
    )


def test_rollback_to_an_older_copy_then_more_use_is_found(
    make_runtime: MakeRuntime, backend: str
) -> None:
    runtime, engine = make_runtime()
    world = make_world(runtime)
    meeting = schedule(world, runtime)
    to_awaiting_panel(world)
    document = take(runtime)
    seq = seq_of(document)
    rewind(engine, backend, keep=seq - 3)
    to_support(world, meeting)  # the restored copy goes on being used past the checkpoint
    sequence_pending(runtime.session_factory)
    with runtime.session_factory() as session:
        assert verify(session).head(CHAIN).seq > seq
    result = check(runtime, document)
    assert not result.ok
    assert result.first_bad_seq == seq
    assert f"entry {seq}'s hash differs from the checkpoint" in result.problem
    assert "restored from another copy" in result.problem


def test_entry_altered_before_the_checkpoint_is_found(
    make_runtime: MakeRuntime, backend: str
) -> None:
    runtime, engine = make_runtime()
    world = make_world(runtime)
    to_support(world, schedule(world, runtime))
    document = take(runtime)
    drop_protection(engine, backend)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET categories = 'identity' WHERE chain = :c AND seq = 5"),
            {"c": CHAIN},
        )
    result = check(runtime, document)
    assert not result.ok
    assert result.first_bad_seq == 5
    assert "altered" in result.problem


def test_chain_rewritten_before_the_checkpoint_is_found(
    make_runtime: MakeRuntime, backend: str
) -> None:
    runtime, engine = make_runtime()
    world = make_world(runtime)
    to_support(world, schedule(world, runtime))
    document = take(runtime)
    seq = seq_of(document)
    drop_protection(engine, backend)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET categories = 'identity' WHERE chain = :c AND seq = 5"),
            {"c": CHAIN},
        )
    rehash(engine)
    with runtime.session_factory() as session:
        assert verify(session).ok  # the chain alone cannot tell
    result = check(runtime, document)
    assert result.first_bad_seq == seq
    assert "rewritten" in result.problem


def test_checkpoint_signed_with_another_key_is_refused(make_runtime: MakeRuntime) -> None:
    runtime, _ = make_runtime()
    world = make_world(runtime)
    schedule(world, runtime)
    other_private, _ = checkpoints.new_key_pair()
    document = take(runtime, key=other_private)
    with pytest.raises(checkpoints.CheckpointRefused, match="signed with another key"):
        check(runtime, document)


@pytest.mark.parametrize(
    ("field", "value"), [("seq", 999), ("hash", "f" * 64), ("at", "2030-01-01T00:00:00Z")]
)
def test_altered_checkpoint_file_is_refused(
    make_runtime: MakeRuntime, field: str, value: object
) -> None:
    runtime, _ = make_runtime()
    world = make_world(runtime)
    schedule(world, runtime)
    document = json.loads(take(runtime))
    if field == "at":
        document[field] = value
    else:  # the world's chain's head
        next(h for h in document["heads"] if h["chain"] == CHAIN)[field] = value
    with pytest.raises(checkpoints.CheckpointRefused, match="signature does not match"):
        check(runtime, json.dumps(document))


@pytest.mark.parametrize(
    "document", ["", "{}", '{"seq": "x"}', "[1]", '{"heads": [{"seq": 1}], "at": ""}']
)
def test_unreadable_checkpoint_file_is_refused(document: str) -> None:
    with pytest.raises(checkpoints.CheckpointRefused, match="not a checkpoint file"):
        checkpoints.load(document, checkpoints.verification_key(None, PUBLIC))


def test_checkpoint_of_a_broken_chain_is_refused() -> None:
    broken = VerifyResult(4, 5, "entry 5 is missing")
    with pytest.raises(ReferralError, match="no checkpoint of a broken chain"):
        checkpoints.sign(broken, policy_hash="", at=TAKEN_AT, key=checkpoints.private_key(PRIVATE))


def test_public_key_is_derived_from_the_private_one() -> None:
    derived = checkpoints.verification_key(PRIVATE, None)
    assert checkpoints.public_text(derived) == PUBLIC
    both = checkpoints.verification_key(PRIVATE, PUBLIC)
    assert checkpoints.public_text(both) == PUBLIC


def test_verify_key_that_does_not_match_the_signing_key_is_a_configuration_error() -> None:
    _, other_public = checkpoints.new_key_pair()
    with pytest.raises(ConfigurationError, match="not the public half"):
        checkpoints.verification_key(PRIVATE, other_public)


@pytest.mark.parametrize(("private", "public"), [(None, None), ("bm90IGEga2V5", None)])
def test_missing_or_malformed_keys_are_configuration_errors(
    private: str | None, public: str | None
) -> None:
    with pytest.raises(ConfigurationError, match="REFERRAL_AUDIT_"):
        checkpoints.verification_key(private, public)


# The commands, as an operator and an auditor would run them.


@pytest.fixture
def database(demo_copy: dict[str, str]) -> Path:
    return Path(demo_copy["path"])


def env_for(database: Path, **keys: str) -> dict[str, str]:
    return {
        "REFERRAL_DATABASE_URL": f"sqlite:///{database}",
        "REFERRAL_LOG_LEVEL": "WARNING",
        "REFERRAL_AUDIT_SIGNING_KEY": "",
        "REFERRAL_AUDIT_VERIFY_KEY": "",
        **keys,
    }


def cli_checkpoint(database: Path, out: Path, key: str = PRIVATE) -> None:
    env = env_for(database, REFERRAL_AUDIT_SIGNING_KEY=key)
    result = referral("audit", "checkpoint", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr


def test_keygen_prints_a_pair_whose_public_half_derives_from_the_private(tmp_path: Path) -> None:
    result = referral("audit", "keygen", env={})
    assert result.returncode == 0, result.stderr
    pairs = dict(
        line.split("=", 1) for line in result.stdout.splitlines() if not line.startswith("#")
    )
    derived = checkpoints.verification_key(pairs["REFERRAL_AUDIT_SIGNING_KEY"], None)
    assert checkpoints.public_text(derived) == pairs["REFERRAL_AUDIT_VERIFY_KEY"]


def test_auditor_with_the_public_key_alone_verifies_a_checkpoint(
    database: Path, tmp_path: Path
) -> None:
    out = tmp_path / "checkpoint.json"
    cli_checkpoint(database, out)
    result = referral(
        "audit",
        "verify",
        "--checkpoint",
        str(out),
        env=env_for(database, REFERRAL_AUDIT_VERIFY_KEY=PUBLIC),
    )
    assert result.returncode == 0, result.stderr
    assert "extends the checkpoint of" in result.stdout


def test_checkpoint_to_standard_output_is_a_signed_document(database: Path) -> None:
    result = referral(
        "audit", "checkpoint", env=env_for(database, REFERRAL_AUDIT_SIGNING_KEY=PRIVATE)
    )
    assert result.returncode == 0, result.stderr
    checkpoint = checkpoints.load(result.stdout, checkpoints.verification_key(None, PUBLIC))
    assert sum(head.seq for head in checkpoint.heads) > 0
    assert len(checkpoint.policy_hash) == 64


def test_checkpoint_without_a_signing_key_is_refused(database: Path) -> None:
    result = referral("audit", "checkpoint", env=env_for(database))
    assert result.returncode == 1
    assert "set REFERRAL_AUDIT_SIGNING_KEY to take checkpoints" in result.stderr


def test_cli_names_the_place_of_a_truncated_log(database: Path, tmp_path: Path) -> None:
    out = tmp_path / "checkpoint.json"
    cli_checkpoint(database, out)
    longest = max(json.loads(out.read_text())["heads"], key=lambda head: head["seq"])
    seq, chain = longest["seq"], longest["chain"]
    assert seq > 40
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TRIGGER audit_log_no_delete")
        connection.execute("DELETE FROM audit_log WHERE chain = ? AND seq > 40", (chain,))
        connection.execute(
            "UPDATE audit_head SET seq = 40, hash = (SELECT hash FROM audit_log "
            "WHERE chain = ? AND seq = 40) WHERE chain = ?",
            (chain, chain),
        )
    result = referral(
        "audit",
        "verify",
        "--checkpoint",
        str(out),
        env=env_for(database, REFERRAL_AUDIT_VERIFY_KEY=PUBLIC),
    )
    assert result.returncode == 1
    assert "the log ends at entry 40 but the checkpoint of" in result.stderr
    assert f"records entry {seq}" in result.stderr


@pytest.mark.parametrize(
    ("signer", "edit", "words"),
    [
        ("other", None, "signed with another key"),
        ("ours", ("seq", 1), "signature does not match"),
        ("ours", ("signature", "bm90IGEgc2lnbmF0dXJl"), "signature does not match"),
    ],
)
def test_cli_refuses_a_checkpoint_it_cannot_trust(
    database: Path, tmp_path: Path, signer: str, edit: tuple[str, object] | None, words: str
) -> None:
    out = tmp_path / "checkpoint.json"
    cli_checkpoint(
        database, out, key=PRIVATE if signer == "ours" else checkpoints.new_key_pair()[0]
    )
    if edit is not None:
        document = json.loads(out.read_text())
        if edit[0] == "seq":  # a chain's head
            document["heads"][-1]["seq"] = edit[1]
        else:
            document[edit[0]] = edit[1]
        out.write_text(json.dumps(document))
    result = referral(
        "audit",
        "verify",
        "--checkpoint",
        str(out),
        env=env_for(database, REFERRAL_AUDIT_VERIFY_KEY=PUBLIC),
    )
    assert result.returncode == 1
    assert words in result.stderr


def test_cli_since_a_checkpoint_verifies_only_what_came_after(
    database: Path, tmp_path: Path
) -> None:
    out = tmp_path / "checkpoint.json"
    cli_checkpoint(database, out)
    longest = max(json.loads(out.read_text())["heads"], key=lambda head: head["seq"])
    with sqlite3.connect(database) as connection:  # an entry the checkpoint already covers
        connection.execute("DROP TRIGGER audit_log_no_update")
        connection.execute(
            "UPDATE audit_log SET action = 'x' WHERE chain = ? AND seq = 3", (longest["chain"],)
        )
    env = env_for(database, REFERRAL_AUDIT_VERIFY_KEY=PUBLIC)
    since = referral("audit", "verify", "--since", str(out), env=env)
    assert since.returncode == 0, since.stderr
    assert "audit chain verified: 0 entries after the checkpoint of" in since.stdout
    everything = referral("audit", "verify", env=env)
    assert everything.returncode == 1
    assert f"audit chain {longest['chain']} broken at entry 3" in everything.stderr
