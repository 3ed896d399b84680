"""Verify a restored copy: its audit chains, and how it stands to the newest checkpoint.

The chains alone prove that no entry of the copy was edited, removed or reordered. They
cannot prove that the copy is recent: a backup older than a checkpoint the deployment
has kept verifies on its own, and serving it would silently lose every entry (and every
change) recorded after it. Comparing it with the newest kept checkpoint tells a rollback
from a current copy (docs/operations.md#backup-and-restore).
"""

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from referral.audit import checkpoint as checkpoints
from referral.audit.sequencer import sequence_pending
from referral.audit.verify import last_seq, stored_hash, verify
from referral.db.engine import make_session_factory


@dataclass(frozen=True)
class Verdict:
    """What the verification found: `ok`, and the sentences saying so."""

    ok: bool
    lines: tuple[str, ...]
    rollback: bool = False


def newest_checkpoint(path: Path, key: Ed25519PublicKey) -> tuple[checkpoints.Checkpoint, Path]:
    """The checkpoint in `path`, or the newest of the `*.json` files in the folder `path`.

    Every file in the folder must load: an altered or foreign file is refused, naming it,
    rather than skipped (skipping the newest would hide exactly the rollback it proves).
    """
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise checkpoints.CheckpointRefused("{path}: no checkpoint files (*.json) in it", path=path)
    loaded = []
    for file in files:
        try:
            loaded.append((checkpoints.load(file.read_text(encoding="utf-8"), key), file))
        except checkpoints.CheckpointRefused as exc:
            raise checkpoints.CheckpointRefused(
                "{file}: {problem}", file=file, problem=exc.message
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise checkpoints.CheckpointRefused(
                "{file}: cannot be read ({reason})", file=file, reason=exc
            ) from exc
    # Newest by time, then by length of the log it records.
    return max(loaded, key=lambda pair: (pair[0].at, sum(h.seq for h in pair[0].heads)))


def verify_restored(
    engine: Engine, checkpoint: checkpoints.Checkpoint | None, source: Path | None = None
) -> Verdict:
    """Verify every chain of the restored database at `engine`, then whether it still
    holds each head of `checkpoint` (taken from `source`).

    Entries that were queued when the backup was taken are placed in their chains first,
    in the restored copy only, as any process serving it would do.
    """
    factory = make_session_factory(engine)
    sequence_pending(factory)
    with factory() as session:
        result = verify(session, engine=engine, workers=1)
        if not result.ok:
            return Verdict(
                False,
                (
                    f"the restored audit log does not verify: chain {result.chain}, "
                    f"entry {result.first_bad_seq}: {result.problem}",
                    "this backup was altered or damaged: do not serve it",
                ),
            )
        lines = [f"audit chain verified: {result.entries} entries in {len(result.heads)} chains"]
        if checkpoint is None:
            lines.append(
                "not compared with any checkpoint: give --checkpoint (the folder where the "
                "deployment keeps them) to tell whether this backup is older than the log "
                "it replaces"
            )
            return Verdict(True, tuple(lines))
        named = f"the checkpoint of {checkpoint.at}" + (f" ({source})" if source else "")
        for trusted in checkpoint.heads:
            ends = last_seq(session, trusted.chain)
            recorded = {trusted.chain: stored_hash(session, trusted.chain, trusted.seq)}
            problem = checkpoints.extends_problem(checkpoint, trusted, ends, recorded)
            if problem is None:
                continue
            if ends < trusted.seq:
                return Verdict(
                    False,
                    (
                        f"ROLLBACK: this backup is older than {named}. Chain "
                        f"{trusted.chain} ends at entry {ends} in the backup, but the "
                        f"checkpoint records entry {trusted.seq}: the backup lacks "
                        f"{_entries(trusted.seq - ends)} the deployment had already recorded.",
                        "Serving this copy would lose them and every change made after the "
                        "backup was taken; restore a newer backup if there is one.",
                    ),
                    rollback=True,
                )
            return Verdict(
                False,
                (
                    f"this backup does not match {named}: chain {trusted.chain}, entry "
                    f"{trusted.seq} has another hash: the copy was rewritten or comes from "
                    "another deployment",
                ),
            )
        total = sum(head.seq for head in checkpoint.heads)
        lines.append(f"holds {named}: every chain reaches or passes it (entry {total} in all)")
        return Verdict(True, tuple(lines))


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"
