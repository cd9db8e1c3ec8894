"""Settings from the environment, checked once at start.

A bad value stops the program with one line naming the variable, so an operator can fix a
unit file at 3 a.m. without reading a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from outage_voice.domain.cron import DEFAULT_SCHEDULE_CRON, BadCron, check_cron
from outage_voice.domain.customers import is_known_timezone
from outage_voice.domain.phones import InvalidPhone, is_known_region, normalize_phone
from outage_voice.domain.windows import (
    ALWAYS,
    DEFAULT_TIMEZONE,
    BadWindow,
    DailyWindow,
    parse_daily_window,
)

DEFAULT_HOME = "./.outage-voice"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"
DEFAULT_REGION = "US"
# When the leader's schedule ticks (planned-work messages, surveys): DEFAULT_SCHEDULE_CRON,
# every minute, on the utility's clock (OUTAGE_VOICE_TIMEZONE, DEFAULT_TIMEZONE by default).
TTS_ENGINES = ("espeak", "gtts")
# What a caller reporting a downed wire is told to dial when the outage line has no
# emergency line of its own to transfer to (OUTAGE_VOICE_EMERGENCY_NUMBER unset), by phone
# region. Regions not listed get 112, the number GSM phones connect in every country and
# the public emergency number across the European Union; set
# OUTAGE_VOICE_PUBLIC_EMERGENCY_NUMBER when your customers dial something else.
PUBLIC_EMERGENCY_NUMBERS: Mapping[str, str] = {
    "US": "911",
    "CA": "911",
    "PR": "911",
    "MX": "911",
    "GB": "999",
    "AU": "000",
    "NZ": "111",
}
DEFAULT_PUBLIC_EMERGENCY_NUMBER = "112"
_SHORT_NUMBER = re.compile(r"^[0-9]{2,6}$")
# Used when no Twilio account is configured: the built-in virtual carrier's account.
VIRTUAL_ACCOUNT_SID = "AC" + "0" * 32
VIRTUAL_AUTH_TOKEN = "virtual-carrier-token"  # noqa: S105 - the simulator's, not a secret
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
# A webhook shared key's secret: a pasted value with quotes or a second word is a mistake.
_SHARED_KEY = re.compile(r"[!#-&(-~]+")
MIN_SHARED_KEY_CHARS = 16
# What stands between the instances and PostgreSQL (OUTAGE_VOICE_DATABASE_POOLER): nothing,
# or a pooler in transaction mode (PgBouncer's pool_mode = transaction, managed poolers),
# which hands each transaction whichever server connection is free.
DATABASE_POOLERS = ("none", "transaction")
# Each instance's connection pool (OUTAGE_VOICE_POOL_SIZE, OUTAGE_VOICE_POOL_MIN_SIZE) and the
# connections a campaign plan builds its targets on side by side (OUTAGE_VOICE_PLAN_SHARDS):
# a plan holds 1 + shards connections of the pool at once. docs/operations.md weighs them
# against the server's max_connections.
DEFAULT_POOL_SIZE = 20
DEFAULT_POOL_MIN_SIZE = 2
DEFAULT_PLAN_SHARDS = 2
MAX_POOL_SIZE = 1000
MAX_PLAN_SHARDS = 32
LOG_FORMATS = ("text", "json")
MAX_PORT = 65535
_IPV6_HOST = re.compile(r"\[[^\]]+\](?::(?P<port>[^:]*))?")
# Every variable load_settings reads: the deployment files (docker/) are checked against it.
ENVIRONMENT_VARIABLES = frozenset(
    {
        "DATABASE_URL",
        "DATABASE_LEADER_URL",
        "OUTAGE_VOICE_DATABASE_POOLER",
        "OUTAGE_VOICE_POOL_SIZE",
        "OUTAGE_VOICE_POOL_MIN_SIZE",
        "OUTAGE_VOICE_PLAN_SHARDS",
        "OUTAGE_VOICE_LOG_FORMAT",
        "OUTAGE_VOICE_HOME",
        "OUTAGE_VOICE_PUBLIC_URL",
        "OUTAGE_VOICE_TWILIO_API_URL",
        "OUTAGE_VOICE_TTS",
        "OUTAGE_VOICE_TIMEZONE",
        "OUTAGE_VOICE_REGION",
        "OUTAGE_VOICE_EMERGENCY_NUMBER",
        "OUTAGE_VOICE_PUBLIC_EMERGENCY_NUMBER",
        "OUTAGE_VOICE_AGENT_NUMBER",
        "OUTAGE_VOICE_AGENT_HOURS",
        "OUTAGE_VOICE_SCHEDULE_CRON",
        "OUTAGE_VOICE_METRICS_TOKEN",
        "OUTAGE_VOICE_TRUSTED_PROXIES",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM_NUMBER",
        "TWILIO_WEBHOOK_SHARED_KEY",
    }
)


class ConfigError(Exception):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True, kw_only=True, slots=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    from_number: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    database_url: str | None
    home: Path
    public_url: str
    twilio: TwilioSettings | None
    twilio_api_url: str | None
    tts_engine: str
    timezone: str
    region: str
    emergency_number: str | None = None
    # Said (never dialed) when emergency_number is unset: "hang up and call 9 1 1".
    public_emergency_number: str = "911"
    agent_number: str | None = None
    # When the agent line is staffed, in `timezone`; outside it callers hear so and are
    # offered the menu instead of ringing an empty queue.
    agent_hours: DailyWindow = ALWAYS
    # False when OUTAGE_VOICE_PUBLIC_URL is unset: `serve` then puts the address it actually
    # bound in `public_url`, so callback URLs reach the port it listens on.
    public_url_configured: bool = True
    # The secret of the Twilio webhook shared key that a Webhooks rule signs with (HMAC_SHA256),
    # for requests carrying X-Twilio-Webhooks-Signature-Settings; others use the Auth Token.
    webhook_shared_key: str | None = None
    # A cron expression (OUTAGE_VOICE_SCHEDULE_CRON) on the utility's clock.
    schedule_cron: str = DEFAULT_SCHEDULE_CRON
    # When set (OUTAGE_VOICE_METRICS_TOKEN), GET /metrics wants it as a Bearer token.
    metrics_token: str | None = None
    # Proxies (OUTAGE_VOICE_TRUSTED_PROXIES) whose X-Forwarded-For names the client for the
    # console's sign-in limit; none by default: the peer's address is the client's.
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # Where the leader lock, LISTEN/NOTIFY and migrations connect (DATABASE_LEADER_URL): they
    # need a session of their own, which a transaction pooler does not keep. None: the same
    # database as the pool (DATABASE_URL, or the embedded server).
    database_leader_url: str | None = None
    # "transaction" when DATABASE_URL goes through a transaction pooler (PgBouncer).
    database_pooler: str = "none"
    pool_size: int = DEFAULT_POOL_SIZE
    pool_min_size: int = DEFAULT_POOL_MIN_SIZE
    plan_shards: int = DEFAULT_PLAN_SHARDS
    # "text" or "json" (OUTAGE_VOICE_LOG_FORMAT; the CLI's --log-format wins).
    log_format: str = "text"

    @property
    def webhook_auth_token(self) -> str:
        """The token carrier webhooks are signed with: Twilio's, or the virtual carrier's."""
        return self.twilio.auth_token if self.twilio else VIRTUAL_AUTH_TOKEN

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def audio_dir(self) -> Path:
        return self.home / "audio"


def _http_url(variable: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(variable, f"must be an http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ConfigError(variable, "must not carry a query or fragment")
    return value.rstrip("/")


def _database_url(value: str, variable: str = "DATABASE_URL") -> str:
    """A postgresql:// URL asyncpg will take, read as asyncpg reads it (several hosts, a
    socket folder in ?host=, libpq's query parameters). The problem never quotes the URL: it
    may hold a password."""
    try:
        parts = urlsplit(value)
        query = parse_qs(parts.query, strict_parsing=True) if parts.query else {}
    except ValueError:
        raise ConfigError(
            variable,
            "does not parse as a URL (an unclosed [ in an IPv6 address, or a query that is "
            "not name=value pairs joined by &)",
        ) from None
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(variable, "must be a postgresql:// URL")
    if parts.netloc.count("@") > 1:
        raise ConfigError(
            variable, "has an @ in its user name or password: write it percent-encoded, %40"
        )
    hosts = parts.netloc.partition("@")[2] if "@" in parts.netloc else parts.netloc
    ports = [port for spec in hosts.split(",") if hosts for port in _host_port(variable, spec)]
    ports += [port for given in query.get("port", []) for port in given.split(",")]
    for port in ports:
        if not (port.isdigit() and 1 <= int(port) <= MAX_PORT):
            raise ConfigError(
                variable,
                f"has a port that is not a number from 1 to {MAX_PORT} (a password containing "
                "/ ? # or : must be percent-encoded)",
            )
    if not hosts and not (query.get("host") or query.get("service")):
        raise ConfigError(
            variable,
            "names no host: give one (postgresql://user:password@db.example:5432/outage_voice)"
            " or a socket folder (postgresql://user@/outage_voice?host=/run/postgresql)",
        )
    return value


def _host_port(variable: str, spec: str) -> list[str]:
    """The port one host of a URL names, if any; a host must be there."""
    if spec.startswith("["):
        literal = _IPV6_HOST.fullmatch(spec)
        if literal is None:
            raise ConfigError(variable, "has an IPv6 address not written as [address]:port")
        port = literal.group("port")
    else:
        host, _, port = spec.partition(":")
        if not host:
            raise ConfigError(variable, "names an empty host (a variable left unset?)")
    return [unquote(port)] if port else []


def _choice(get: Callable[[str], str | None], variable: str, choices: tuple[str, ...]) -> str:
    value = (get(variable) or choices[0]).lower()
    if value not in choices:
        raise ConfigError(variable, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _count(
    get: Callable[[str], str | None], variable: str, default: int, *, least: int, most: int
) -> int:
    raw = get(variable)
    if raw is None:
        return default
    if not raw.isdigit() or not least <= int(raw) <= most:
        raise ConfigError(variable, f"must be a whole number from {least} to {most}, got {raw!r}")
    return int(raw)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Connections:
    leader_url: str | None
    pooler: str
    pool_size: int
    pool_min_size: int
    plan_shards: int


def _connections(get: Callable[[str], str | None], database_url: str | None) -> _Connections:
    leader_url = get("DATABASE_LEADER_URL")
    if leader_url is not None:
        leader_url = _database_url(leader_url, "DATABASE_LEADER_URL")
        if database_url is None:
            raise ConfigError(
                "DATABASE_LEADER_URL",
                "is set but DATABASE_URL is not: both must reach the same database",
            )
    pooler = _choice(get, "OUTAGE_VOICE_DATABASE_POOLER", DATABASE_POOLERS)
    if pooler == "transaction" and (leader_url is None or leader_url == database_url):
        # A session advisory lock taken through a transaction pooler stays on whichever
        # server connection ran it: two instances could both lead, or none hear a NOTIFY.
        raise ConfigError(
            "DATABASE_LEADER_URL",
            "must be set, to a URL reaching PostgreSQL directly (or through a session pool),"
            " when OUTAGE_VOICE_DATABASE_POOLER is transaction: the leader lock, notifications"
            " and migrations need a session of their own",
        )
    pool_size = _count(
        get, "OUTAGE_VOICE_POOL_SIZE", DEFAULT_POOL_SIZE, least=2, most=MAX_POOL_SIZE
    )
    pool_min_size = _count(
        get,
        "OUTAGE_VOICE_POOL_MIN_SIZE",
        min(DEFAULT_POOL_MIN_SIZE, pool_size),
        least=0,
        most=pool_size,
    )
    plan_shards = _count(
        get,
        "OUTAGE_VOICE_PLAN_SHARDS",
        min(DEFAULT_PLAN_SHARDS, pool_size - 1),
        least=1,
        most=min(MAX_PLAN_SHARDS, pool_size - 1),
    )
    return _Connections(
        leader_url=leader_url,
        pooler=pooler,
        pool_size=pool_size,
        pool_min_size=pool_min_size,
        plan_shards=plan_shards,
    )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    database_url = get("DATABASE_URL")
    if database_url is not None:
        database_url = _database_url(database_url)
    connections = _connections(get, database_url)
    configured_public_url = get("OUTAGE_VOICE_PUBLIC_URL")
    public_url = _http_url("OUTAGE_VOICE_PUBLIC_URL", configured_public_url or DEFAULT_PUBLIC_URL)
    api_url = get("OUTAGE_VOICE_TWILIO_API_URL")
    tts = (get("OUTAGE_VOICE_TTS") or "espeak").lower()
    if tts not in TTS_ENGINES:
        raise ConfigError(
            "OUTAGE_VOICE_TTS", f"must be one of {', '.join(TTS_ENGINES)}, got {tts!r}"
        )
    timezone = get("OUTAGE_VOICE_TIMEZONE") or DEFAULT_TIMEZONE
    if not is_known_timezone(timezone):
        raise ConfigError("OUTAGE_VOICE_TIMEZONE", f"unknown IANA time zone {timezone!r}")
    region = (get("OUTAGE_VOICE_REGION") or DEFAULT_REGION).upper()
    if not is_known_region(region):
        raise ConfigError("OUTAGE_VOICE_REGION", f"unknown phone region {region!r} (e.g. US, CA)")
    return Settings(
        database_url=database_url,
        database_leader_url=connections.leader_url,
        database_pooler=connections.pooler,
        pool_size=connections.pool_size,
        pool_min_size=connections.pool_min_size,
        plan_shards=connections.plan_shards,
        log_format=_choice(get, "OUTAGE_VOICE_LOG_FORMAT", LOG_FORMATS),
        home=Path(get("OUTAGE_VOICE_HOME") or DEFAULT_HOME),
        public_url=public_url,
        public_url_configured=configured_public_url is not None,
        twilio=_twilio(get, region),
        twilio_api_url=None
        if api_url is None
        else _http_url("OUTAGE_VOICE_TWILIO_API_URL", api_url),
        tts_engine=tts,
        timezone=timezone,
        region=region,
        emergency_number=_phone(get, "OUTAGE_VOICE_EMERGENCY_NUMBER", region),
        public_emergency_number=_public_emergency_number(get, region),
        agent_number=_phone(get, "OUTAGE_VOICE_AGENT_NUMBER", region),
        agent_hours=_window(get, "OUTAGE_VOICE_AGENT_HOURS"),
        webhook_shared_key=_shared_key(get("TWILIO_WEBHOOK_SHARED_KEY")),
        schedule_cron=_cron(get("OUTAGE_VOICE_SCHEDULE_CRON")),
        metrics_token=get("OUTAGE_VOICE_METRICS_TOKEN"),
        trusted_proxies=_networks(
            "OUTAGE_VOICE_TRUSTED_PROXIES", get("OUTAGE_VOICE_TRUSTED_PROXIES")
        ),
    )


def _networks(
    variable: str, value: str | None
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in (value or "").split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                variable,
                f"must be addresses or CIDR blocks separated by commas (e.g. 10.0.0.5,"
                f"192.168.0.0/24), got {item.strip()!r}",
            ) from None
    return tuple(networks)


def _cron(value: str | None) -> str:
    if value is None:
        return DEFAULT_SCHEDULE_CRON
    try:
        return check_cron(value)
    except BadCron as exc:
        raise ConfigError(
            "OUTAGE_VOICE_SCHEDULE_CRON",
            f"must be a cron expression such as {DEFAULT_SCHEDULE_CRON!r}: {exc}",
        ) from None


def _shared_key(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) < MIN_SHARED_KEY_CHARS or not _SHARED_KEY.fullmatch(value):
        raise ConfigError(
            "TWILIO_WEBHOOK_SHARED_KEY",
            f"must be the shared key's secret as Twilio gave it: at least {MIN_SHARED_KEY_CHARS} "
            "printable characters without spaces or quotes",
        )
    return value


def _window(get: Callable[[str], str | None], variable: str) -> DailyWindow:
    try:
        return parse_daily_window(get(variable) or "")
    except BadWindow as exc:
        raise ConfigError(variable, str(exc)) from None


def _public_emergency_number(get: Callable[[str], str | None], region: str) -> str:
    variable = "OUTAGE_VOICE_PUBLIC_EMERGENCY_NUMBER"
    raw = get(variable)
    if raw is None:
        return PUBLIC_EMERGENCY_NUMBERS.get(region, DEFAULT_PUBLIC_EMERGENCY_NUMBER)
    if not _SHORT_NUMBER.match(raw):
        raise ConfigError(variable, f"must be 2 to 6 digits (e.g. 911, 112), got {raw!r}")
    return raw


def _phone(get: Callable[[str], str | None], variable: str, region: str) -> str | None:
    raw = get(variable)
    if raw is None:
        return None
    try:
        return normalize_phone(raw, region)
    except InvalidPhone as exc:
        raise ConfigError(variable, exc.reason) from None


def _twilio(get: Callable[[str], str | None], region: str) -> TwilioSettings | None:
    sid = get("TWILIO_ACCOUNT_SID")
    if sid is None:
        return None
    if not _ACCOUNT_SID.match(sid):
        raise ConfigError("TWILIO_ACCOUNT_SID", "must be 'AC' followed by 32 hex digits")
    token = get("TWILIO_AUTH_TOKEN")
    if token is None:
        raise ConfigError("TWILIO_AUTH_TOKEN", "is required when TWILIO_ACCOUNT_SID is set")
    from_number = _phone(get, "TWILIO_FROM_NUMBER", region)
    return TwilioSettings(account_sid=sid, auth_token=token, from_number=from_number)
