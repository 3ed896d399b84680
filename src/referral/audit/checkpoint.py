"""Signed checkpoints of the audit chain head (DESIGN.md §5).

A checkpoint records the sequence number and hash of the last entry, when it was taken
and the policy version in force, signed with Ed25519. Kept away from the database, it
lets a later verify prove that the log still extends it: truncation and a rollback to
an older copy are found, not only edits, because the chain alone cannot know how long
it used to be.
"""

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from referral.audit.chain import VerifyResult, canonical_json
from referral.domain.errors import ConfigurationError, ReferralError

FORMAT = "referral-audit-checkpoint/1"
KEY_BYTES = 32


class CheckpointRefused(ReferralError):
    """The checkpoint file cannot be trusted: unreadable, altered or signed by another key."""


@dataclass(frozen=True)
class Checkpoint:
    """What is signed. `at` is UTC, to the second, as written in the file."""

    seq: int
    hash: str
    at: str
    policy_hash: str
    format: str = FORMAT


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _raw_key(text: str, setting: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigurationError(f"{setting} is not a base64 Ed25519 key of {KEY_BYTES} bytes")
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
            f"no checkpoint of a broken chain: entry {head.first_bad_seq}: {head.problem}"
        )
    checkpoint = Checkpoint(
        seq=head.entries,
        hash=head.head_hash,
        at=at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        policy_hash=policy_hash,
    )
    body = asdict(checkpoint)
    signature = key.sign(canonical_json(body).encode())
    document = {
        **body,
        "public_key": public_text(key.public_key()),
        "signature": _b64(signature),
    }
    return json.dumps(document, indent=2) + "\n"


def _parse(text: str) -> tuple[Checkpoint, str, bytes]:
    try:
        document: Any = json.loads(text)
        checkpoint = Checkpoint(
            seq=int(document["seq"]),
            hash=str(document["hash"]),
            at=str(document["at"]),
            policy_hash=str(document["policy_hash"]),
            format=str(document["format"]),
        )
        signature = base64.b64decode(str(document["signature"]), validate=True)
        return checkpoint, str(document.get("public_key", "")), signature
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise CheckpointRefused(f"not a checkpoint file: {exc}") from exc


def load(text: str, key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in `text`, once its signature checks out with `key`."""
    checkpoint, signer, signature = _parse(text)
    if checkpoint.format != FORMAT:
        raise CheckpointRefused(f"unknown checkpoint format {checkpoint.format!r}")
    if signer != public_text(key):
        raise CheckpointRefused(
            f"checkpoint refused: signed with another key ({signer or 'none named'}), "
            f"not the configured {public_text(key)}"
        )
    try:
        key.verify(signature, canonical_json(asdict(checkpoint)).encode())
    except InvalidSignature:
        raise CheckpointRefused(
            "checkpoint refused: its signature does not match its content (the file was altered)"
        ) from None
    return checkpoint


def check_extends(
    checkpoint: Checkpoint, head: VerifyResult, recorded_hash: str | None
) -> VerifyResult:
    """Whether a verified chain still holds the checkpoint's entry, with the same hash.

    `recorded_hash` is the hash the log stores now for entry `checkpoint.seq`.
    """
    if not head.ok or checkpoint.seq == 0:
        return head
    if head.entries < checkpoint.seq:
        problem = (
            f"the log ends at entry {head.entries} but the checkpoint of {checkpoint.at} "
            f"records entry {checkpoint.seq}: entries were removed or an older copy restored"
        )
        return VerifyResult(head.entries, head.entries + 1, problem)
    if recorded_hash != checkpoint.hash:
        problem = (
            f"entry {checkpoint.seq}'s hash differs from the checkpoint of {checkpoint.at}: "
            "the log was rewritten or restored from another copy"
        )
        return VerifyResult(head.entries, checkpoint.seq, problem)
    return head
