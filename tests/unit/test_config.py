from __future__ import annotations

import subprocess

import pytest

from outage_voice.config import ConfigError, load_settings
from tests.support import cli, cli_env

SID = "AC" + "0" * 32


def test_defaults_need_no_configuration() -> None:
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.twilio is None
    assert settings.tts_engine == "espeak"
    assert settings.region == "US"
    assert str(settings.pgdata).endswith("pgdata")


def test_twilio_settings() -> None:
    settings = load_settings(
        {
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "t",
            "TWILIO_FROM_NUMBER": "(512) 555-0100",
        }
    )
    assert settings.twilio is not None
    assert settings.twilio.from_number == "+15125550100"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"OUTAGE_VOICE_PUBLIC_URL": "ftp://x"}, "OUTAGE_VOICE_PUBLIC_URL"),
        ({"OUTAGE_VOICE_PUBLIC_URL": "http://x/?a=1"}, "OUTAGE_VOICE_PUBLIC_URL"),
        ({"OUTAGE_VOICE_TWILIO_API_URL": "localhost:9"}, "OUTAGE_VOICE_TWILIO_API_URL"),
        ({"OUTAGE_VOICE_TTS": "festival"}, "OUTAGE_VOICE_TTS"),
        ({"OUTAGE_VOICE_TIMEZONE": "Central"}, "OUTAGE_VOICE_TIMEZONE"),
        ({"OUTAGE_VOICE_REGION": "XX"}, "OUTAGE_VOICE_REGION"),
        ({"OUTAGE_VOICE_SCHEDULE_CRON": "every minute"}, "OUTAGE_VOICE_SCHEDULE_CRON"),
        ({"OUTAGE_VOICE_SCHEDULE_CRON": "61 * * * *"}, "OUTAGE_VOICE_SCHEDULE_CRON"),
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_ACCOUNT_SID": SID}, "TWILIO_AUTH_TOKEN"),
        (
            {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM_NUMBER": "12"},
            "TWILIO_FROM_NUMBER",
        ),
    ],
)
def test_bad_values_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    assert caught.value.variable == variable


def test_cli_stops_with_one_line_naming_the_variable() -> None:
    result = subprocess.run(
        cli("migrate"),
        env=cli_env(OUTAGE_VOICE_TTS="festival"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "OUTAGE_VOICE_TTS" in lines[0]


def test_agent_hours_are_checked_at_start() -> None:
    assert load_settings({}).agent_hours.always
    hours = load_settings({"OUTAGE_VOICE_AGENT_HOURS": "07:30-19:00"}).agent_hours
    assert hours.describe() == "07:30-19:00"
    for bad in ("7-19", "25:00-26:00", "07:30-19:60", "mornings"):
        with pytest.raises(ConfigError) as caught:
            load_settings({"OUTAGE_VOICE_AGENT_HOURS": bad})
        assert caught.value.variable == "OUTAGE_VOICE_AGENT_HOURS"


@pytest.mark.parametrize(
    ("environ", "number"),
    [
        ({}, "911"),
        ({"OUTAGE_VOICE_REGION": "CA"}, "911"),
        ({"OUTAGE_VOICE_REGION": "gb"}, "999"),
        ({"OUTAGE_VOICE_REGION": "AU"}, "000"),
        ({"OUTAGE_VOICE_REGION": "DE"}, "112"),
        ({"OUTAGE_VOICE_REGION": "ES"}, "112"),
        ({"OUTAGE_VOICE_REGION": "US", "OUTAGE_VOICE_PUBLIC_EMERGENCY_NUMBER": " 112 "}, "112"),
    ],
)
def test_public_emergency_number_follows_the_region(environ: dict[str, str], number: str) -> None:
    assert load_settings(environ).public_emergency_number == number


@pytest.mark.parametrize("bad", ["9-1-1", "+1911", "1", "1234567", "nine", "９１１"])
def test_public_emergency_number_is_checked_at_start(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"OUTAGE_VOICE_PUBLIC_EMERGENCY_NUMBER": bad})
    assert caught.value.variable == "OUTAGE_VOICE_PUBLIC_EMERGENCY_NUMBER"


def test_webhook_shared_key_is_optional_and_checked() -> None:
    assert load_settings({}).webhook_shared_key is None
    key = "whsk_0123456789abcdefXYZ"
    assert load_settings({"TWILIO_WEBHOOK_SHARED_KEY": f" {key} "}).webhook_shared_key == key
    for bad in (
        "short",
        '"whsk_0123456789abcdef"',
        "whsk_0123456789 abcdef",
        "clé-0123456789abcdef",
    ):
        with pytest.raises(ConfigError) as caught:
            load_settings({"TWILIO_WEBHOOK_SHARED_KEY": bad})
        assert caught.value.variable == "TWILIO_WEBHOOK_SHARED_KEY"


def test_trusted_proxies_are_addresses_or_cidr_blocks_and_none_by_default() -> None:
    assert load_settings({}).trusted_proxies == ()
    proxies = load_settings({"OUTAGE_VOICE_TRUSTED_PROXIES": " 10.0.0.5, 192.168.10.0/24,::1 "})
    assert [str(n) for n in proxies.trusted_proxies] == [
        "10.0.0.5/32",
        "192.168.10.0/24",
        "::1/128",
    ]
    for bad in ("proxy.example", "10.0.0.0/33", "10.0.0.5;10.0.0.6"):
        with pytest.raises(ConfigError) as caught:
            load_settings({"OUTAGE_VOICE_TRUSTED_PROXIES": bad})
        assert caught.value.variable == "OUTAGE_VOICE_TRUSTED_PROXIES"
