"""Console accounts: made from the command line, signed in to through the console."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from outage_voice.domain.auth import Role
from outage_voice.domain.errors import DomainError, InvalidField, NotFound
from outage_voice.domain.users import (
    MAX_PASSWORD_CHARS,
    MAX_USERNAME_CHARS,
    ConsoleSession,
    User,
    UserExists,
    check_password,
    check_role,
    check_timezone,
    check_username,
    normalize_username,
    retry_after_s,
    session_expires_at,
)
from outage_voice.services.ports import Clock

logger = logging.getLogger(__name__)

SESSION_TOKEN_BYTES = 32
# The console's session cookie carries this many characters at most; anything longer is junk.
MAX_SESSION_TOKEN_CHARS = 100
# Sign-ins checking or waiting to check a password on this instance; more are refused at once
# without hashing (a burst of guesses costs a few hashes, never a queue of minutes).
MAX_SIGNINS_IN_FLIGHT = 4
SIGNIN_BUSY_RETRY_S = 5
# Text PostgreSQL cannot store (NUL) or that is no character at all (a lone surrogate).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class SignInRefused(DomainError):
    def __init__(self) -> None:
        super().__init__("that username and password do not match an active account")


class SignInBusy(DomainError):
    """More sign-ins waiting for their password check than this instance takes at once."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many sign-ins at once; try again in a few seconds")
        self.retry_after_s = retry_after_s


class SignInLimited(DomainError):
    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, round(retry_after_s / 60))
        super().__init__(
            f"too many failed sign-ins; try again in {minutes} minute{'s' if minutes > 1 else ''}"
        )
        self.retry_after_s = retry_after_s


class UserStore(Protocol):
    async def insert(
        self, *, username: str, role: Role, password_hash: str, timezone: str | None, now: datetime
    ) -> User | None:
        """None when the username is taken."""
        ...

    async def credentials(self, username: str) -> tuple[User, str] | None: ...

    async def list_users(self) -> list[User]: ...

    async def disable(self, username: str, *, now: datetime) -> User | None: ...

    async def insert_session(
        self,
        session_id: bytes,
        *,
        user_id: int,
        csrf_token: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    async def find_session(self, session_id: bytes) -> ConsoleSession | None:
        """The session of a user not disabled, not signed out; expiry is the caller's."""
        ...

    async def touch_session(self, session_id: bytes, *, now: datetime) -> None: ...

    async def end_session(self, session_id: bytes, *, now: datetime) -> None: ...

    async def admit_attempt(
        self, *, username: str, address: str, now: datetime
    ) -> tuple[datetime | None, ...]:
        """For each limit, the failure holding its key at the limit (None when under it); when
        all are None the attempt is recorded as a failure, atomically with the check, so that
        parallel attempts each count."""
        ...

    async def forget_attempt(self, *, username: str, address: str, now: datetime) -> None:
        """Takes back the attempt recorded at `now` (the password was right)."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, encoded: str | None) -> bool:
        """False for None, taking as long as a real check."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SignIn:
    """The cookie's token (given to the browser, never stored) and the session it opens."""

    token: str
    session: ConsoleSession


def _valid_username(name: str) -> bool:
    try:
        check_username(name)
    except InvalidField:
        return False
    return True


def _token_shaped(token: str) -> bool:
    """Tokens are URL-safe base64: a cookie with other bytes (a sibling site's, or hostile)
    opens nothing rather than failing to encode."""
    return bool(token) and len(token) <= MAX_SESSION_TOKEN_CHARS and token.isascii()


def session_id(token: str) -> bytes:
    """Only this is stored: the cookie's token is 256 random bits, so SHA-256 is enough."""
    return hashlib.sha256(token.encode()).digest()


class UserService:
    def __init__(
        self,
        store: UserStore,
        hasher: PasswordHasher,
        clock: Clock,
        *,
        max_in_flight: int = MAX_SIGNINS_IN_FLIGHT,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._in_flight = 0

    async def create(
        self, *, username: str, password: str, role: str | Role, timezone: str | None = None
    ) -> User:
        name = check_username(username)
        checked_role = check_role(str(role))
        zone = check_timezone(timezone)
        encoded = await self._hasher.hash(check_password(password))
        user = await self._store.insert(
            username=name,
            role=checked_role,
            password_hash=encoded,
            timezone=zone,
            now=self._clock.now(),
        )
        if user is None:
            raise UserExists(name)
        return user

    async def list_users(self) -> list[User]:
        return await self._store.list_users()

    async def disable(self, username: str) -> User:
        name = normalize_username(username)
        user = await self._store.disable(name, now=self._clock.now())
        if user is None:
            raise NotFound("active user", name)
        return user

    async def sign_in(self, username: str, password: str, *, address: str) -> SignIn:
        """Refused (SignInLimited) without looking at the password once the username from this
        address, the username, or the address has failed too often lately; every attempt is
        counted as a failure before its password is checked (taken back when right), so
        parallel guesses count too. SignInBusy when too many are being checked already."""
        if self._in_flight >= self._max_in_flight:
            logger.warning("console sign-in refused from %s: too many at once", address)
            raise SignInBusy(SIGNIN_BUSY_RETRY_S)
        self._in_flight += 1
        try:
            return await self._sign_in(username, password, address=address)
        finally:
            self._in_flight -= 1

    async def _sign_in(self, username: str, password: str, *, address: str) -> SignIn:
        name = normalize_username(username)[:MAX_USERNAME_CHARS]
        storable = not (_UNSTORABLE.search(name) or _UNSTORABLE.search(password))
        if not storable or not _valid_username(name):
            # Counted against the address alone: such a name can be no account's.
            name = ""
        now = self._clock.now()
        limiting = await self._store.admit_attempt(username=name, address=address, now=now)
        waits = [s for s in (retry_after_s(at, now) for at in limiting) if s is not None]
        found = await self._store.credentials(name) if name and not waits else None
        # Only an account's name is logged: people type their password in the name field.
        shown = repr(name) if found is not None else "<unknown user>"
        if waits:
            logger.warning("console sign-in refused for %s from %s: rate limited", shown, address)
            raise SignInLimited(max(waits))
        user, encoded = found if found is not None else (None, None)
        if len(password) > MAX_PASSWORD_CHARS or not storable:
            ok = False
        else:
            ok = await self._hasher.verify(password, encoded)
        if not ok or user is None or user.disabled_at is not None:
            logger.warning("failed console sign-in for %s from %s", shown, address)
            raise SignInRefused()
        await self._store.forget_attempt(username=name, address=address, now=now)
        token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
        csrf_token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
        expires_at = session_expires_at(now)
        await self._store.insert_session(
            session_id(token),
            user_id=user.user_id,
            csrf_token=csrf_token,
            now=now,
            expires_at=expires_at,
        )
        logger.info("console sign-in: %s (%s) from %s", user.username, user.role.value, address)
        session = await self._store.find_session(session_id(token))
        assert session is not None
        return SignIn(token=token, session=session)

    async def session(self, token: str) -> ConsoleSession | None:
        """The live session this cookie opens, its last use recorded (at most once a minute);
        None when unknown, signed out, idle too long, past its end, or its user disabled."""
        if not _token_shaped(token):
            return None
        key = session_id(token)
        session = await self._store.find_session(key)
        now = self._clock.now()
        if session is None or not session.times.alive(now):
            return None
        if session.times.needs_touch(now):
            await self._store.touch_session(key, now=now)
        return session

    async def sign_out(self, token: str) -> None:
        if _token_shaped(token):
            await self._store.end_session(session_id(token), now=self._clock.now())
