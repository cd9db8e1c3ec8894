"""Console account rules, password hashes and session lifetimes (pure)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from datetime import timedelta

import pytest

from outage_voice.adapters.passwords import ScryptHasher, hash_password, verify_password
from outage_voice.domain.auth import Principal, Role
from outage_voice.domain.errors import InvalidField
from outage_voice.domain.users import (
    SessionTimes,
    check_password,
    check_role,
    check_timezone,
    check_username,
    retry_after_s,
    session_expires_at,
)
from tests.support import T0


def test_usernames_are_case_blind_and_plain() -> None:
    assert check_username("  Ana.Ruiz@Coop ") == "ana.ruiz@coop"
    for bad in ("", "   ", ".hidden", "two words", "x" * 65, "ana\x00"):
        with pytest.raises(InvalidField) as caught:
            check_username(bad)
        assert caught.value.field == "username"


def test_passwords_need_twelve_characters_and_roles_are_people_roles() -> None:
    assert check_password("twelve chars") == "twelve chars"
    for bad in ("eleven char", " " * 20, "x" * 1025):
        with pytest.raises(InvalidField):
            check_password(bad)
    assert check_role("viewer") is Role.VIEWER
    with pytest.raises(InvalidField, match="supervisor or viewer"):
        check_role("oms")
    assert check_timezone(None) is None
    with pytest.raises(InvalidField):
        check_timezone("Mars/Olympus")


def test_a_hash_carries_its_parameters_and_refuses_a_doctored_one() -> None:
    encoded = hash_password("correct horse battery", n=2**10)
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "1024", "8", "1")
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)
    assert hash_password("correct horse battery", n=2**10) != encoded  # salted
    # A row edited to ask for gigabytes of memory, or garbage, is a refusal, not a crash.
    assert not verify_password("correct horse battery", f"scrypt$1073741824$8$1${salt}${digest}")
    for junk in ("", "plain", "scrypt$x$8$1$a$b", f"scrypt$1000$8$1${salt}${digest}"):
        assert not verify_password("correct horse battery", junk)


def test_a_session_lives_30_idle_minutes_and_12_hours_at_most() -> None:
    times = SessionTimes(
        created_at=T0, last_seen_at=T0, expires_at=session_expires_at(T0), ended_at=None
    )
    assert times.alive(T0 + timedelta(minutes=29, seconds=59))
    assert not times.alive(T0 + timedelta(minutes=30))
    late = SessionTimes(
        created_at=T0,
        last_seen_at=T0 + timedelta(hours=11, minutes=59),
        expires_at=session_expires_at(T0),
        ended_at=None,
    )
    assert late.alive(T0 + timedelta(hours=11, minutes=59, seconds=59))
    assert not late.alive(T0 + timedelta(hours=12))
    assert not times.needs_touch(T0 + timedelta(seconds=59))
    assert times.needs_touch(T0 + timedelta(seconds=60))
    ended = SessionTimes(
        created_at=T0, last_seen_at=T0, expires_at=session_expires_at(T0), ended_at=T0
    )
    assert not ended.alive(T0)


def test_retry_after_counts_to_when_the_limiting_failure_leaves_the_window() -> None:
    assert retry_after_s(None, T0) is None
    assert retry_after_s(T0, T0 + timedelta(minutes=5)) == 600
    assert retry_after_s(T0, T0 + timedelta(minutes=15)) == 1  # never "0": try again after


def test_people_and_tokens_are_told_apart_in_the_audit_trail() -> None:
    assert Principal(user_id=3, name="ana", role=Role.SUPERVISOR).actor == "user:3:ana"
    assert Principal(token_id=4, name="feed", role=Role.OMS).actor == "token:4:feed"


async def test_hashing_leaves_the_event_loop_answering() -> None:
    hasher = ScryptHasher(n=2**14)
    hashing = asyncio.create_task(hasher.hash("correct horse battery"))
    turns = 0
    # Blocking the loop, the hash would finish before this loop ran a second turn.
    while not hashing.done() and turns < 10_000_000:
        await asyncio.sleep(0)
        turns += 1
    encoded = await hashing
    assert turns > 10
    verifying = asyncio.create_task(hasher.verify("correct horse battery", encoded))
    turns = 0
    while not verifying.done() and turns < 10_000_000:
        await asyncio.sleep(0)
        turns += 1
    assert await verifying and turns > 10
    assert not await hasher.verify("correct horse battery", None)  # unknown user: a decoy


async def test_password_hashing_never_waits_behind_the_default_executor() -> None:
    """The outage line reads prompt audio and appends to its spool in the loop's default
    executor: with every one of its threads busy, a password is still checked (and a burst of
    sign-ins, the other way round, never fills it)."""
    loop = asyncio.get_running_loop()
    default = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(default)
    hold = threading.Event()
    blocked = loop.run_in_executor(None, hold.wait, 10)
    try:
        hasher = ScryptHasher(n=2**4)
        encoded = await asyncio.wait_for(hasher.hash("correct horse battery"), timeout=5)
        assert await asyncio.wait_for(hasher.verify("correct horse battery", encoded), 5)
    finally:
        hold.set()
        await blocked
