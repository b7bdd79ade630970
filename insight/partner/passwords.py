"""Password rules and hashing: Argon2id (argon2-cffi), with a dummy hash that evens out sign-in timing."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["DUMMY_HASH", "MAX_PASSWORD", "MIN_PASSWORD", "hash_password", "needs_rehash", "password_problems",
           "verify_password"]

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_HASHER = PasswordHasher()
DUMMY_HASH = _HASHER.hash("not a real password: equalises timing for unknown accounts")
_COMMON = frozenset({
    "password1234", "123456789012", "qwertyuiop12", "letmein12345", "welcome12345", "password123!",
    "iloveyou1234", "administrator", "changeme1234",
})


def password_problems(password: str, *, email: str = "") -> list[str]:
    """Why ``password`` is not acceptable (empty list: it is)."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"use at least {MIN_PASSWORD} characters (this one has {len(password)})")
    if len(password) > MAX_PASSWORD:
        problems.append(f"use at most {MAX_PASSWORD} characters")
    if password and len(set(password)) < 4:
        problems.append("use more than three different characters")
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        problems.append("do not include your email address")
    if password.lower() in _COMMON:
        problems.append("this is a commonly used password; choose another")
    return problems


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True if ``password`` matches ``stored_hash``; False for a mismatch or an unreadable hash."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True if ``stored_hash`` was made with weaker parameters than the current ones."""
    return _HASHER.check_needs_rehash(stored_hash)
