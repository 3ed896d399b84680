"""Master keys: they wrap each subject's data key (envelope encryption).

A subject's personal fields are sealed with that subject's own 256-bit data key
(AES-GCM). The data key is stored only wrapped, that is encrypted with a master key
from configuration, and the wrapping records the master key's id so that keys can be
rotated: add a new master key, make it current, run `referral keys rotate`, then
retire the old one. Destroying a subject's wrapped data key makes everything sealed
with it unreadable for good (crypto-shredding), wherever copies of the rows are.
"""

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from referral.domain.errors import ConfigurationError
from referral.i18n import N_

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
WRAP_CONTEXT = b"referral data key"
SEARCH_CONTEXT = b"referral search index"

MISSING_KEY_HELP = N_(
    "no master key is configured: set REFERRAL_MASTER_KEYS (see docs/configuration.md), "
    "or run `referral keys init` on a development machine"
)


def second_factor_context(user_id: int) -> bytes:
    """What a sealed TOTP secret is bound to: its use and its user."""
    return f"referral totp secret of user {user_id}; ".encode()


def webhook_secret_context(endpoint_id: int) -> bytes:
    """What a sealed webhook signing secret is bound to: its use and its endpoint."""
    return f"referral webhook secret of endpoint {endpoint_id}; ".encode()


def new_master_key() -> str:
    """A fresh master key, base64-encoded, for configuration."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def parse_master_keys(text: str) -> dict[str, bytes]:
    """`id:base64,id:base64` -> {id: key}. Errors name the entry, never the key."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(filter(None, (e.strip() for e in text.split(","))), 1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise ConfigurationError(
                "REFERRAL_MASTER_KEYS entry {position}: write it as ID:BASE64KEY, where the id is "
                "letters, digits, '.', '_' or '-'",
                position=position,
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except ValueError as exc:
            raise ConfigurationError(
                "REFERRAL_MASTER_KEYS entry {position} ({key}): the key is not base64",
                position=position,
                key=key_id,
            ) from exc
        if len(key) != KEY_BYTES:
            raise ConfigurationError(
                "REFERRAL_MASTER_KEYS entry {position} ({key}): a key is {size} bytes, this one "
                "is {length}",
                position=position,
                key=key_id,
                size=KEY_BYTES,
                length=len(key),
            )
        if key_id in keys:
            raise ConfigurationError("REFERRAL_MASTER_KEYS names {key!r} twice", key=key_id)
        keys[key_id] = key
    return keys


def parse_linkage_key(text: str) -> tuple[str, bytes] | None:
    """REFERRAL_LINKAGE_KEY, `id:base64` (32 bytes): the secret linkage tokens are keyed
    with (domain.linkage). Errors name the setting, never the key."""
    if not text.strip():
        return None
    try:
        keys = parse_master_keys(text)
    except ConfigurationError as exc:
        raise ConfigurationError(
            str(exc).replace("REFERRAL_MASTER_KEYS", "REFERRAL_LINKAGE_KEY")
        ) from None
    if len(keys) != 1:
        raise ConfigurationError(
            "REFERRAL_LINKAGE_KEY holds one key, ID:BASE64KEY; to change it, see "
            "docs/linkage.md (rotation)"
        )
    return next(iter(keys.items()))


@dataclass(frozen=True)
class Keyring:
    """The configured master keys and which one wraps new data keys; and the linkage key,
    which keys repeat-referral tokens (never stored in the database, like the master keys)."""

    master_keys: dict[str, bytes] = field(default_factory=dict, repr=False)
    current_id: str = ""
    # The key of the search index's HMACs (services.search). It does not rotate with the
    # master keys: a new one makes every blind-index entry unfindable until reindexed.
    search_key: bytes = field(default=b"", repr=False)
    linkage: tuple[str, bytes] | None = field(default=None, repr=False)

    @classmethod
    def from_config(
        cls, master_keys: str, current_id: str | None, search_key: str = "", linkage_key: str = ""
    ) -> "Keyring":
        keys = parse_master_keys(master_keys)
        linkage = parse_linkage_key(linkage_key)
        if not keys:
            return cls(linkage=linkage)
        chosen = current_id or next(reversed(keys))
        if chosen not in keys:
            raise ConfigurationError(
                "REFERRAL_MASTER_KEY_ID is {chosen!r}, which REFERRAL_MASTER_KEYS does not hold",
                chosen=chosen,
            )
        return cls(keys, chosen, _search_key(search_key, keys), linkage)

    @property
    def configured(self) -> bool:
        return bool(self.current_id)

    def require(self) -> None:
        if not self.configured:
            raise ConfigurationError(MISSING_KEY_HELP)

    def blind(self, value: str) -> str:
        """A keyed blind-index token of `value`: equal values give equal tokens, and
        without the deployment's search key nobody can tell what a token stands for."""
        self.require()
        return hmac.new(self.search_key, value.encode(), hashlib.sha256).hexdigest()

    def new_data_key(self) -> tuple[bytes, bytes, str]:
        """A fresh data key: (the key, the key wrapped, the wrapping master key's id)."""
        self.require()
        key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        return key, self.wrap(key), self.current_id

    def wrap(
        self, data_key: bytes, master_id: str | None = None, context: bytes = WRAP_CONTEXT
    ) -> bytes:
        """Seal `data_key` with a master key; `context` binds what it is (and whose) into
        the ciphertext, so a sealed value cannot be moved to another row or use."""
        master_id = master_id or self.current_id
        self.require()
        nonce = os.urandom(NONCE_BYTES)
        aad = context + master_id.encode()
        return nonce + AESGCM(self.master_keys[master_id]).encrypt(nonce, data_key, aad)

    def unwrap(self, wrapped: bytes, master_id: str, context: bytes = WRAP_CONTEXT) -> bytes:
        master = self.master_keys.get(master_id)
        if master is None:
            raise ConfigurationError(
                "a data key is wrapped by master key {master!r}, which is not configured; add it "
                "to REFERRAL_MASTER_KEYS (rotate with `referral keys rotate` before retiring a "
                "master key)",
                master=master_id,
            )
        try:
            aad = context + master_id.encode()
            return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise ConfigurationError(
                "master key {master!r} does not open the data keys it is said to wrap: the "
                "configured key is not the one they were wrapped with",
                master=master_id,
            ) from exc


def _search_key(text: str, master_keys: dict[str, bytes]) -> bytes:
    """REFERRAL_SEARCH_KEY (base64, 32 bytes), or, when it is not set, one derived from the
    first master key listed: enough for a pilot, but a deployment that will retire that
    master key sets its own search key first (docs/configuration.md)."""
    if not text.strip():
        first = next(iter(master_keys.values()))
        return hmac.new(first, SEARCH_CONTEXT, hashlib.sha256).digest()
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise ConfigurationError("REFERRAL_SEARCH_KEY is not base64") from exc
    if len(key) != KEY_BYTES:
        raise ConfigurationError(
            "REFERRAL_SEARCH_KEY is {size} bytes once decoded, this one is {length}",
            size=KEY_BYTES,
            length=len(key),
        )
    return key
