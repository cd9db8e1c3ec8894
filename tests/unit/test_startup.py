"""What `serve` says at start: addresses, masks, and the public URL it gives the carrier."""

from __future__ import annotations

import dataclasses
import socket

from outage_voice.campaign_cli import duration
from outage_voice.config import TwilioSettings, load_settings
from outage_voice.startup import bound_url, mask_database_url, public_url, start_lines


def test_passwords_and_account_sids_are_masked() -> None:
    assert (
        mask_database_url("postgresql://ov:s3cret@db.internal:5432/outage?sslmode=require")
        == "postgresql://ov:***@db.internal:5432/outage?sslmode=require"
    )
    assert mask_database_url("postgresql://ov@db/outage") == "postgresql://ov@db/outage"
    settings = dataclasses.replace(
        load_settings({}),
        database_url="postgresql://ov:s3cret@db/outage",
        twilio=TwilioSettings(account_sid="AC" + "ab" * 16, auth_token="tok", from_number=None),
    )
    lines = start_lines(settings, listening="http://127.0.0.1:1", public="http://127.0.0.1:1")
    text = "\n".join(lines)
    assert "s3cret" not in text and "tok" not in text and "ab" * 16 not in text
    assert "carrier: Twilio account ACab…abab" in text
    assert lines[-1] == (
        "optional numbers unset: OUTAGE_VOICE_EMERGENCY_NUMBER, OUTAGE_VOICE_AGENT_NUMBER, "
        "TWILIO_FROM_NUMBER"
    )


def test_passwords_in_the_query_and_in_every_url_form_are_masked() -> None:
    # libpq's (and asyncpg's) password and sslpassword parameters, as some managed
    # providers hand URLs out; a name may be percent-encoded; several hosts; no port at all.
    cases = {
        "postgresql://ov@db.example:5432/ov?sslmode=require&password=pw-in-query": (
            "postgresql://ov@db.example:5432/ov?sslmode=require&password=***"
        ),
        "postgres://ov@db/ov?sslpassword=key-pass&sslcert=/c.pem": (
            "postgres://ov@db/ov?sslpassword=***&sslcert=/c.pem"
        ),
        "postgresql://ov@db/ov?pass%77ord=encoded-name": "postgresql://ov@db/ov?pass%77ord=***",
        "postgresql://ov:multi-secret@h1:5432,h2:5433/ov": "postgresql://ov:***@h1:5432,h2:5433/ov",
        "postgresql://ov:v6-secret@[::1]:5432/ov": "postgresql://ov:***@[::1]:5432/ov",
        "postgresql://ov:p@ss-secret@db/ov": "postgresql://ov:***@db/ov",
        "postgresql://postgres:@/ov?host=/tmp/sock": "postgresql://postgres:***@/ov?host=/tmp/sock",
    }
    assert {dsn: mask_database_url(dsn) for dsn in cases} == cases
    settings = dataclasses.replace(
        load_settings({}),
        database_url="postgresql://ov@pool.example:6432/ov?password=pool-secret",
        database_leader_url="postgresql://ov@db.example/ov?sslmode=require&password=lead-secret",
    )
    lines = start_lines(settings, listening="http://127.0.0.1:1", public="http://127.0.0.1:1")
    text = "\n".join(lines)
    assert "secret" not in text
    assert "postgresql://ov@pool.example:6432/ov?password=***" in text
    assert "postgresql://ov@db.example/ov?sslmode=require&password=***" in text


class ListeningOn:
    """What the start-up code reads of a socket, for addresses a test must not bind."""

    def __init__(self, host: str, port: int, family: socket.AddressFamily) -> None:
        self.family = family
        self._name = (host, port)

    def getsockname(self) -> tuple[str, int]:
        return self._name


def test_the_bound_port_is_the_public_one_unless_a_url_is_set() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
        assert bound_url(sock) == f"http://127.0.0.1:{port}"
        assert public_url(load_settings({}), sock) == f"http://127.0.0.1:{port}"
        configured = load_settings({"OUTAGE_VOICE_PUBLIC_URL": "https://ivr.example.com/"})
        assert public_url(configured, sock) == "https://ivr.example.com"


def test_a_wildcard_address_is_reached_on_loopback() -> None:
    any_v4 = ListeningOn("0.0.0.0", 9000, socket.AF_INET)  # never bound
    assert bound_url(any_v4) == "http://127.0.0.1:9000"  # type: ignore[arg-type]
    any_v6 = ListeningOn("::", 9000, socket.AF_INET6)
    assert bound_url(any_v6) == "http://[::1]:9000"  # type: ignore[arg-type]


def test_durations_read_as_a_person_says_them() -> None:
    assert [duration(s) for s in (None, 74, 600, 9000)] == ["-", "74 s", "10 min", "2.5 h"]
