"""Console accounts: who may sign in, with what password, and how long a session lasts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from outage_voice.domain.auth import Principal, Role
from outage_voice.domain.customers import is_known_timezone
from outage_voice.domain.errors import DomainError, InvalidField

# People sign in as supervisors or viewers; the OMS role is for machines (API tokens).
CONSOLE_ROLES = frozenset({Role.SUPERVISOR, Role.VIEWER})
MIN_PASSWORD_CHARS = 12
# Far above any passphrase, low enough that hashing a hostile one costs nothing extra.
MAX_PASSWORD_CHARS = 1024
MAX_USERNAME_CHARS = 64
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]*$")

# A session ends after this long without a request, and after this long whatever happens.
SESSION_IDLE_S = 30 * 60
SESSION_ABSOLUTE_S = 12 * 60 * 60
# last_seen_at is written at most this often: a console watching a storm is not a write load.
SESSION_TOUCH_S = 60

# Failed sign-ins allowed within the window per username from one client address; per
# username from anywhere (an outsider cannot lock a named supervisor out with a few tries, yet
# guessing from many addresses stays capped); per client address whatever the username.
SIGNIN_FAILURE_LIMIT = 5
SIGNIN_USERNAME_LIMIT = 50
SIGNIN_ADDRESS_LIMIT = 20
SIGNIN_WINDOW_S = 15 * 60


class UserExists(DomainError):
    def __init__(self, username: str) -> None:
        super().__init__(f"a user named {username!r} exists already")
        self.username = username


def normalize_username(raw: str) -> str:
    """Usernames are compared without regard to case or surrounding blanks."""
    return raw.strip().lower()


def check_username(raw: str) -> str:
    username = normalize_username(raw)
    if not username:
        raise InvalidField("username", "is empty")
    if len(username) > MAX_USERNAME_CHARS:
        raise InvalidField("username", f"is longer than {MAX_USERNAME_CHARS} characters")
    if not _USERNAME.fullmatch(username):
        raise InvalidField(
            "username",
            "may hold only letters, digits and . _ @ - (and starts with a letter or digit)",
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidField("password", f"needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidField("password", f"is longer than {MAX_PASSWORD_CHARS} characters")
    if not password.strip():
        raise InvalidField("password", "is only blanks")
    return password


def check_role(raw: str) -> Role:
    try:
        role = Role(raw)
    except ValueError:
        role = None
    if role not in CONSOLE_ROLES:
        names = " or ".join(sorted(r.value for r in CONSOLE_ROLES))
        raise InvalidField("role", f"must be {names}")
    assert role is not None
    return role


def check_timezone(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not is_known_timezone(raw):
        raise InvalidField("timezone", f"{raw!r} is not an IANA time zone (e.g. America/Chicago)")
    return raw


@dataclass(frozen=True, kw_only=True, slots=True)
class User:
    user_id: int
    username: str
    role: Role
    # None: the utility's zone.
    timezone: str | None
    created_at: datetime
    disabled_at: datetime | None

    @property
    def principal(self) -> Principal:
        return Principal(user_id=self.user_id, name=self.username, role=self.role)


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionTimes:
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None

    def alive(self, now: datetime) -> bool:
        return (
            self.ended_at is None
            and now < self.expires_at
            and now < self.last_seen_at + timedelta(seconds=SESSION_IDLE_S)
        )

    def needs_touch(self, now: datetime) -> bool:
        return now - self.last_seen_at >= timedelta(seconds=SESSION_TOUCH_S)


def session_expires_at(created_at: datetime) -> datetime:
    return created_at + timedelta(seconds=SESSION_ABSOLUTE_S)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsoleSession:
    """A signed-in person as a request sees them."""

    user: User
    csrf_token: str
    times: SessionTimes

    @property
    def principal(self) -> Principal:
        return self.user.principal


def retry_after_s(limiting_failure_at: datetime | None, now: datetime) -> int | None:
    """Seconds until the failure that holds the count at the limit ages out of the window;
    None when the count is under the limit (no such failure)."""
    if limiting_failure_at is None:
        return None
    left = limiting_failure_at + timedelta(seconds=SIGNIN_WINDOW_S) - now
    return max(1, int(left.total_seconds() + 0.999))
