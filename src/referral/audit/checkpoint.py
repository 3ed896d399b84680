"""Signed checkpoints of the audit chains' heads (DESIGN.md §5, docs/audit-format.md).

A checkpoint records the head (seq and hash of the last entry) of every chain, when it
was taken and the policy version in force, signed with Ed25519. Kept away from the
database, it lets a later verify prove that the log still extends it: truncation and a
rollback to an older copy are found, not only edits, because a chain alone cannot know
how long it used to be. It is also where `audit verify --since` starts from.
"""

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from referral.audit.chain import canonical_json
from referral.audit.verify import ChainHead, VerifyResult
from referral.domain.errors import ConfigurationError, ReferralError

FORMAT = "referral-audit-checkpoint/2"
KEY_BYTES = 32


class CheckpointRefused(ReferralError):
    """The checkpoint file cannot be trusted: unreadable, altered or signed by another key."""


@dataclass(frozen=True)
class Checkpoint:
    """What is signed. `at` is UTC, to the second, as written in the file."""

    heads: tuple[ChainHead, ...]
    at: str
    policy_hash: str
    format: str = FORMAT

    def signed_body(self) -> dict[str, Any]:
        """The object whose canonical JSON is signed (docs/audit-format.md)."""
        heads = [{"chain": h.chain, "hash": h.hash, "seq": h.seq} for h in self.heads]
        return {
            "at": self.at,
            "format": self.format,
            "heads": heads,
            "policy_hash": self.policy_hash,
        }

    def trusted_heads(self) -> dict[str, ChainHead]:
        return {head.chain: head for head in self.heads}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _raw_key(text: str, setting: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigurationError(
            "{setting} is not a base64 Ed25519 key of {size} bytes", setting=setting, size=KEY_BYTES
        )
    return raw


def private_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_raw_key(text, "REFERRAL_AUDIT_SIGNING_KEY"))


def public_text(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def new_key_pair() -> tuple[str, str]:
    """A fresh (private, public) pair, both base64 of the raw 32 bytes."""
    key = Ed25519PrivateKey.generate()
    return _b64(key.private_bytes_raw()), public_text(key.public_key())


def verification_key(signing_key: str | None, verify_key: str | None) -> Ed25519PublicKey:
    """The public key from REFERRAL_AUDIT_VERIFY_KEY, or derived from the signing key."""
    derived = private_key(signing_key).public_key() if signing_key else None
    if verify_key is None:
        if derived is None:
            raise ConfigurationError(
                "no key to check checkpoints: set REFERRAL_AUDIT_VERIFY_KEY "
                "(or REFERRAL_AUDIT_SIGNING_KEY)"
            )
        return derived
    raw = _raw_key(verify_key, "REFERRAL_AUDIT_VERIFY_KEY")
    if derived is not None and public_text(derived) != _b64(raw):
        raise ConfigurationError(
            "REFERRAL_AUDIT_VERIFY_KEY is not the public half of REFERRAL_AUDIT_SIGNING_KEY"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(head: VerifyResult, *, policy_hash: str, at: datetime, key: Ed25519PrivateKey) -> str:
    """The checkpoint file's text for a head that verified."""
    if not head.ok:
        raise ReferralError(
            "no checkpoint of a broken chain: entry {entry}: {problem}",
            entry=head.first_bad_seq,
            problem=head.problem,
        )
    checkpoint = Checkpoint(
        heads=tuple(sorted(head.heads, key=lambda h: h.chain)),
        at=at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        policy_hash=policy_hash,
    )
    body = checkpoint.signed_body()
    signature = key.sign(canonical_json(body).encode())
    document = {
        **body,
        "public_key": public_text(key.public_key()),
        "signature": _b64(signature),
    }
    return json.dumps(document, indent=2) + "\n"


def _parse(text: str) -> tuple[Checkpoint, str, bytes, bool]:
    try:
        document: Any = json.loads(text)
        heads = tuple(
            ChainHead(str(h["chain"]), int(h["seq"]), str(h["hash"])) for h in document["heads"]
        )
        checkpoint = Checkpoint(
            heads=heads,
            at=str(document["at"]),
            policy_hash=str(document["policy_hash"]),
            format=str(document["format"]),
        )
        signature = base64.b64decode(str(document["signature"]), validate=True)
        unsigned = bool(set(document) - {*SIGNED_KEYS, "public_key", "signature"})
        return checkpoint, str(document.get("public_key", "")), signature, unsigned
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise CheckpointRefused("not a checkpoint file: {exc}", exc=exc) from exc


def load(text: str, key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in `text`, once its signature checks out with `key`."""
    checkpoint, signer, signature, unsigned = _parse(text)
    if checkpoint.format != FORMAT:
        raise CheckpointRefused("unknown checkpoint format {format!r}", format=checkpoint.format)
    if signer != public_text(key):
        raise CheckpointRefused(
            "checkpoint refused: signed with another key ({signer}), not the configured {key}",
            signer=signer or "none named",
            key=public_text(key),
        )
    try:
        if unsigned:  # fields added beside the signed ones: the file was altered
            raise InvalidSignature
        key.verify(signature, canonical_json(checkpoint.signed_body()).encode())
    except InvalidSignature:
        raise CheckpointRefused(
            "checkpoint refused: its signature does not match its content (the file was altered)"
        ) from None
    return checkpoint


def check_extends(
    checkpoint: Checkpoint, head: VerifyResult, recorded: Mapping[str, str | None]
) -> VerifyResult:
    """Whether verified chains still hold each of the checkpoint's heads, same hash.

    `recorded` maps each chain to the hash the log stores now for the checkpoint's seq.
    """
    if not head.ok:
        return head
    for trusted in checkpoint.heads:
        problem = extends_problem(checkpoint, trusted, head.head(trusted.chain).seq, recorded)
        if problem is not None:
            return problem
    return head


def extends_problem(
    checkpoint: Checkpoint, trusted: ChainHead, log_ends: int, recorded: Mapping[str, str | None]
) -> VerifyResult | None:
    """The chain ends at `log_ends`: does it still hold `trusted`, the checkpoint's head?"""
    if trusted.seq == 0:
        return None
    if log_ends < trusted.seq:
        problem = (
            f"chain {trusted.chain}: the log ends at entry {log_ends} but the checkpoint of "
            f"{checkpoint.at} records entry {trusted.seq}: entries were removed or an older "
            "copy restored"
        )
        return VerifyResult(log_ends, log_ends + 1, problem, trusted.chain)
    if recorded.get(trusted.chain) != trusted.hash:
        problem = (
            f"chain {trusted.chain}: entry {trusted.seq}'s hash differs from the checkpoint of "
            f"{checkpoint.at}: the log was rewritten or restored from another copy"
        )
        return VerifyResult(log_ends, trusted.seq, problem, trusted.chain)
    return None


SIGNED_KEYS = frozenset({"at", "format", "heads", "policy_hash"})
