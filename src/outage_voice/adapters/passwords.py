"""Password hashing with scrypt (memory-hard, in the standard library), off the event loop."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor

# ≈32 MiB and 0.1-0.3 s of CPU per hash: costly to guess in bulk, affordable per sign-in.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
_SCHEME = "scrypt"
# Stored parameters above these are refused rather than letting a doctored row exhaust memory.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, *, n: int, r: int, p: int, length: int) -> bytes:
    # OpenSSL's default memory cap (32 MiB) is just under what n=2**15, r=8 needs.
    maxmem = 2 * 128 * r * n + 1024 * 1024
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length
    )


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """`scrypt$n$r$p$salt_b64$hash_b64`: the parameters travel with the hash, so they can be
    raised later without invalidating the passwords made before."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, n=n, r=r, p=p, length=HASH_BYTES)
    return f"{_SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return False
    if not expected:
        return False
    actual = _scrypt(password, salt, n=n, r=r, p=p, length=len(expected))
    return hmac.compare_digest(actual, expected)


# Hashes run one at a time: a burst of sign-ins costs one core, never the whole machine.
HASH_THREADS = 1


class ScryptHasher:
    """Hashing takes a fraction of a second of CPU and 32 MiB: it runs in a worker thread of its
    own, never the loop's default executor, where the outage line reads prompt audio and
    appends to its spool; a burst of sign-ins must not make callers wait behind it."""

    def __init__(self, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> None:
        self._n, self._r, self._p = n, r, p
        # Verified when the username is unknown, so that case takes as long as a wrong password.
        self._decoy: str | None = None
        # Its idle thread ends when the hasher is collected with the application.
        self._executor = ThreadPoolExecutor(
            max_workers=HASH_THREADS, thread_name_prefix="password-hash"
        )

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor,
            functools.partial(hash_password, password, n=self._n, r=self._r, p=self._p),
        )

    async def verify(self, password: str, encoded: str | None) -> bool:
        loop = asyncio.get_running_loop()
        if encoded is None:
            if self._decoy is None:
                self._decoy = await self.hash(secrets.token_urlsafe(16))
            await loop.run_in_executor(self._executor, verify_password, password, self._decoy)
            return False
        return await loop.run_in_executor(self._executor, verify_password, password, encoded)
