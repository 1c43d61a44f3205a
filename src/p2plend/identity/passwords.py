"""Password hashing: argon2id through pwdlib, re-hashed on login when the cost changes."""

from functools import lru_cache
from typing import Literal

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from p2plend.config import get_settings

Profile = Literal["standard", "fast"]


@lru_cache(maxsize=2)
def _hasher(profile: Profile) -> PasswordHash:
    if profile == "fast":
        # Tests only: the cheapest argon2id argon2-cffi accepts.
        return PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),))
    # pwdlib's defaults (t=3, m=64 MiB, p=4): OWASP's argon2id recommendation is at or below this.
    return PasswordHash((Argon2Hasher(),))


def _current() -> PasswordHash:
    return _hasher(get_settings().password_hash_profile)


def hash_password(password: str) -> str:
    return _current().hash(password)


def verify_and_update(password: str, stored_hash: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches, and a new hash when the stored one used other parameters."""
    return _current().verify_and_update(password, stored_hash)


@lru_cache(maxsize=2)
def _decoy_hash(profile: Profile) -> str:
    return _hasher(profile).hash("decoy-password-never-matches-0")


def spend_time_as_verifying() -> None:
    """Verify against a decoy so an unknown phone takes as long to refuse as a wrong password."""
    profile = get_settings().password_hash_profile
    _hasher(profile).verify("not-the-password", _decoy_hash(profile))
