"""Argon2id password hashing, run off the event loop and bounded in concurrency."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Each hash takes ~64 MiB and ~100 ms of CPU: a burst of logins must not exhaust memory or threads.
HASH_SLOTS = 4
_DUMMY_PASSWORD = "rapport-dummy-password-for-unknown-accounts"  # noqa: S105 (hashed to burn time)


class Passwords:
    """One app's password hashing: at most `slots` hashes at a time (one instance per identity app)."""

    def __init__(self, *, slots: int = HASH_SLOTS) -> None:
        self._hasher = PasswordHasher()
        self._slots = asyncio.Semaphore(slots)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The Argon2id hash of a password."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether the password matches the hash (never raises on a mismatch)."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with weaker parameters than today's."""
        return self._hasher.check_needs_rehash(password_hash)

    async def burn_verify(self, password: str) -> None:
        """Spend the time of a real verification, so an unknown e-mail answers like a wrong password."""
        if self._dummy is None:
            self._dummy = await self.hash(_DUMMY_PASSWORD)
        await self.verify(self._dummy, password)
