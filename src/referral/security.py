"""Password hashing with argon2id.

The cost comes from settings (argon2-cffi's RFC 9106 low-memory profile by default);
a hash records its own parameters, so raising the cost later still verifies old hashes.
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# The password hash of an account made without a password (an import): no argon2 hash
# looks like it, so no password verifies against it until one is set.
NO_PASSWORD_YET = "!no password yet"  # noqa: S105 - a marker, not a password


def has_password(password_hash: str) -> bool:
    return password_hash != NO_PASSWORD_YET


def configure_hashing(*, time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Set the cost of new hashes (the test suite lowers it to keep sign-ins fast)."""
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hash_password(password: str) -> str:
    return str(_hasher.hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False
