"""The database connection settings: the leader's own URL, a transaction pooler in front,
the connection budget, and the list of every variable the configuration reads."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import pytest

from outage_voice.config import (
    DEFAULT_PLAN_SHARDS,
    DEFAULT_POOL_MIN_SIZE,
    DEFAULT_POOL_SIZE,
    ENVIRONMENT_VARIABLES,
    ConfigError,
    load_settings,
)
from outage_voice.startup import start_lines
from tests.support import REPO_ROOT, cli_env, run_cli

DIRECT = "postgresql://ov@db.example:5432/outage_voice"
POOLED = "postgresql://ov@pgbouncer.example:6432/outage_voice"
# Every variable set, to a good value: each branch of load_settings reads its variables.
EVERYTHING = {
    "DATABASE_URL": POOLED,
    "DATABASE_LEADER_URL": DIRECT,
    "OUTAGE_VOICE_DATABASE_POOLER": "transaction",
    "OUTAGE_VOICE_POOL_SIZE": "30",
    "OUTAGE_VOICE_POOL_MIN_SIZE": "4",
    "OUTAGE_VOICE_PLAN_SHARDS": "3",
    "OUTAGE_VOICE_LOG_FORMAT": "json",
    "OUTAGE_VOICE_HOME": "/var/lib/outage-voice",
    "OUTAGE_VOICE_PUBLIC_URL": "https://ivr.example",
    "OUTAGE_VOICE_TWILIO_API_URL": "https://api.twilio.example",
    "OUTAGE_VOICE_TTS": "gtts",
    "OUTAGE_VOICE_TIMEZONE": "America/Chicago",
    "OUTAGE_VOICE_REGION": "US",
    "OUTAGE_VOICE_EMERGENCY_NUMBER": "+15125550111",
    "OUTAGE_VOICE_PUBLIC_EMERGENCY_NUMBER": "911",
    "OUTAGE_VOICE_AGENT_NUMBER": "+15125550122",
    "OUTAGE_VOICE_AGENT_HOURS": "07:00-19:00",
    "OUTAGE_VOICE_SCHEDULE_CRON": "* * * * *",
    "OUTAGE_VOICE_METRICS_TOKEN": "scrape-me",
    "OUTAGE_VOICE_TRUSTED_PROXIES": "10.0.0.0/8",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "t",
    "TWILIO_FROM_NUMBER": "+15125550100",
    "TWILIO_WEBHOOK_SHARED_KEY": "k" * 20,
}


class Recording(Mapping[str, str]):
    """An environment that remembers every name asked of it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(name)
        return self._values.get(name, default)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.read.add(name)
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the configuration lists the environment instead of asking")

    def __len__(self) -> int:
        return len(self._values)


def test_environment_variables_are_exactly_what_the_configuration_reads() -> None:
    read: set[str] = set()
    for values in ({}, EVERYTHING):
        environ = Recording(values)
        load_settings(environ)
        read |= environ.read
    assert read == ENVIRONMENT_VARIABLES
    assert set(EVERYTHING) == ENVIRONMENT_VARIABLES


def test_connection_defaults() -> None:
    settings = load_settings({})
    assert settings.database_leader_url is None
    assert settings.database_pooler == "none"
    assert settings.pool_size == DEFAULT_POOL_SIZE == 20
    assert settings.pool_min_size == DEFAULT_POOL_MIN_SIZE == 2
    assert settings.plan_shards == DEFAULT_PLAN_SHARDS == 2
    assert settings.log_format == "text"


def test_everything_set() -> None:
    settings = load_settings(EVERYTHING)
    assert settings.database_url == POOLED
    assert settings.database_leader_url == DIRECT
    assert settings.database_pooler == "transaction"
    assert (settings.pool_size, settings.pool_min_size, settings.plan_shards) == (30, 4, 3)
    assert settings.log_format == "json"


def test_a_leader_url_beside_the_pool_and_no_pooler() -> None:
    settings = load_settings({"DATABASE_URL": POOLED, "DATABASE_LEADER_URL": DIRECT})
    assert settings.database_leader_url == DIRECT
    assert settings.database_pooler == "none"


def test_a_small_pool_plans_on_fewer_shards() -> None:
    settings = load_settings({"OUTAGE_VOICE_POOL_SIZE": "2"})
    assert (settings.pool_size, settings.pool_min_size, settings.plan_shards) == (2, 2, 1)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"DATABASE_URL": DIRECT, "DATABASE_LEADER_URL": "mysql://x"}, "DATABASE_LEADER_URL"),
        # The leader must reach the database the pool does: not the embedded one.
        ({"DATABASE_LEADER_URL": DIRECT}, "DATABASE_LEADER_URL"),
        # Through a transaction pooler the leader lock would not be a lock.
        (
            {"DATABASE_URL": POOLED, "OUTAGE_VOICE_DATABASE_POOLER": "transaction"},
            "DATABASE_LEADER_URL",
        ),
        (
            {
                "DATABASE_URL": POOLED,
                "DATABASE_LEADER_URL": POOLED,
                "OUTAGE_VOICE_DATABASE_POOLER": "transaction",
            },
            "DATABASE_LEADER_URL",
        ),
        ({"OUTAGE_VOICE_DATABASE_POOLER": "session"}, "OUTAGE_VOICE_DATABASE_POOLER"),
        ({"OUTAGE_VOICE_POOL_SIZE": "many"}, "OUTAGE_VOICE_POOL_SIZE"),
        ({"OUTAGE_VOICE_POOL_SIZE": "1"}, "OUTAGE_VOICE_POOL_SIZE"),
        ({"OUTAGE_VOICE_POOL_SIZE": "-5"}, "OUTAGE_VOICE_POOL_SIZE"),
        ({"OUTAGE_VOICE_POOL_SIZE": "100000"}, "OUTAGE_VOICE_POOL_SIZE"),
        ({"OUTAGE_VOICE_POOL_MIN_SIZE": "21"}, "OUTAGE_VOICE_POOL_MIN_SIZE"),
        (
            {"OUTAGE_VOICE_POOL_SIZE": "5", "OUTAGE_VOICE_POOL_MIN_SIZE": "6"},
            "OUTAGE_VOICE_POOL_MIN_SIZE",
        ),
        ({"OUTAGE_VOICE_PLAN_SHARDS": "0"}, "OUTAGE_VOICE_PLAN_SHARDS"),
        # A plan holds 1 + shards connections: a pool of 4 has room for 3 shards at most.
        (
            {"OUTAGE_VOICE_POOL_SIZE": "4", "OUTAGE_VOICE_PLAN_SHARDS": "4"},
            "OUTAGE_VOICE_PLAN_SHARDS",
        ),
        ({"OUTAGE_VOICE_LOG_FORMAT": "xml"}, "OUTAGE_VOICE_LOG_FORMAT"),
    ],
)
def test_bad_connection_settings_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    assert caught.value.variable == variable


MALFORMED_URLS = [
    "postgresql://ov:pw@localhost:54x2/ov",  # a port that is not a number
    "postgresql://ov:pw@localhost:70000/ov",  # nor a port
    "postgresql://ov:pw@db:5432,db2:5x/ov",  # one of several hosts
    "postgresql://ov:pw@db/ov?port=5x",
    "postgresql://ov:pw@/ov",  # no host, no ?host=: compose's ${DB_HOST} left empty
    "postgresql://ov:pw@:5432/ov",
    "postgresql:///ov",
    "postgresql://ov:pw@db,,db2/ov",
    "postgresql://ov:pw@[::1/ov",  # an unclosed IPv6 literal
    "postgresql://ov:p@ss@db/ov",  # an @ in the password, not written %40
    "postgresql://ov:pa/ss@db/ov",  # a / in the password ends the host part early
    "postgresql://ov@db/ov?sslmode",  # a query that is not name=value pairs
]


@pytest.mark.parametrize("variable", ["DATABASE_URL", "DATABASE_LEADER_URL"])
@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_database_url_that_does_not_parse_names_the_variable(variable: str, url: str) -> None:
    environ = {"DATABASE_URL": DIRECT, variable: url}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    assert caught.value.variable == variable
    # The message never repeats the URL: it may hold a password.
    assert "pw" not in caught.value.problem and "ss" not in caught.value.problem.split()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ov:pw@db.example:5432/ov?sslmode=require",
        "postgres://ov@db.example/ov",
        "postgresql://ov:p%40ss@db:5432,db2:5433/ov?target_session_attrs=read-write",
        "postgresql://ov@[::1]:5432/ov",
        "postgresql://postgres:@/ov?host=/run/postgresql",  # a socket folder
        "postgresql://ov@/ov?host=db.example&port=5433",
        "postgresql:///ov?service=outage",  # pg_service.conf names the host
    ],
)
def test_database_url_forms_asyncpg_takes_are_accepted(url: str) -> None:
    assert load_settings({"DATABASE_URL": url, "DATABASE_LEADER_URL": url}).database_url == url


@pytest.mark.parametrize("command", ["doctor", "serve"])
def test_doctor_and_serve_say_one_line_for_a_url_that_does_not_parse(command: str) -> None:
    done = run_cli([command], env=cli_env(DATABASE_URL="postgresql://u:secretpw@localhost:54x2/db"))
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("outage-voice: configuration error: DATABASE_URL: ")
    assert "port" in line and "secretpw" not in line


def test_the_pooler_error_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": POOLED, "OUTAGE_VOICE_DATABASE_POOLER": "transaction"})
    assert "directly" in caught.value.problem
    assert "leader lock" in caught.value.problem


def test_serve_says_where_the_leader_connects_with_passwords_masked() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://ov:pooled-secret@pgbouncer.example:6432/ov",
            "DATABASE_LEADER_URL": "postgresql://ov:direct-secret@db.example:5432/ov",
            "OUTAGE_VOICE_DATABASE_POOLER": "transaction",
            "OUTAGE_VOICE_POOL_SIZE": "12",
        }
    )
    lines = start_lines(settings, listening="http://127.0.0.1:1", public="http://127.0.0.1:1")
    (database,) = [line for line in lines if line.startswith("database:")]
    assert database == (
        "database: postgresql://ov:***@pgbouncer.example:6432/ov (through a transaction pooler),"
        " a pool of 12 connections; leader lock and migrations at"
        " postgresql://ov:***@db.example:5432/ov"
    )


def test_the_guides_document_every_variable_and_name_only_known_ones() -> None:
    guide = (REPO_ROOT / "docs" / "operator-guide.md").read_text(encoding="utf-8")
    assert [v for v in sorted(ENVIRONMENT_VARIABLES) if f"`{v}`" not in guide] == []
    operations = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    start = operations.index("## PgBouncer and managed PostgreSQL")
    sections = operations[
        start : operations.index("\n## ", operations.index("## Connection budgets"))
    ]
    named = set(re.findall(r"\b(?:OUTAGE_VOICE|DATABASE)_[A-Z_]+", sections))
    assert {"DATABASE_LEADER_URL", "OUTAGE_VOICE_DATABASE_POOLER"} <= named
    assert named <= ENVIRONMENT_VARIABLES
    metrics = (REPO_ROOT / "src" / "outage_voice" / "services" / "metrics.py").read_text()
    for name in set(re.findall(r"\boutage_voice_[a-z_]+", sections)):
        base = re.sub(r"_total$", "", name).removeprefix("outage_voice_")
        assert f'f"{{PREFIX}}_{base}"' in metrics, name
