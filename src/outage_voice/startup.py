"""What `serve` tells an operator when it starts: the address it listens on, the URL the
carrier is given, and what it runs on, one line each, with no secret in any of them."""

from __future__ import annotations

import errno
import socket
from urllib.parse import unquote_plus, urlsplit

from outage_voice.config import Settings

# Addresses that listen on every interface: a carrier on this machine reaches them on loopback.
_WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 - names compared, nothing bound here
# Query parameters of a database URL whose values are secrets.
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
_MASK = "***"
_OPTIONAL_NUMBERS = (
    ("OUTAGE_VOICE_EMERGENCY_NUMBER", "emergency_number"),
    ("OUTAGE_VOICE_AGENT_NUMBER", "agent_number"),
)


class CannotListen(Exception):
    """The address could not be bound; the message is one line for the operator."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, bound now so the port actually used is known before
    anything is told to call it back (and `--port 0` picks a free one)."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise CannotListen(
            f"cannot listen on {host}:{port}: unknown host ({exc.strerror})"
        ) from None
    family, _, _, _, address = infos[0]
    try:
        return socket.create_server(address[:2], family=family)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "the address is already in use (another server? choose another --port)"
        raise CannotListen(f"cannot listen on {_host_port(host, port)}: {reason}") from None


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bound_url(sock: socket.socket) -> str:
    """The http:// URL of what `sock` listens on, as a process on this machine reaches it."""
    host, port = sock.getsockname()[:2]
    if host in _WILDCARD_HOSTS:
        host = "::1" if sock.family == socket.AF_INET6 else "127.0.0.1"
    return f"http://{_host_port(host, port)}"


def public_url(settings: Settings, sock: socket.socket) -> str:
    """OUTAGE_VOICE_PUBLIC_URL as given; unset, the address actually bound."""
    return settings.public_url if settings.public_url_configured else bound_url(sock)


def mask_database_url(dsn: str) -> str:
    """`dsn` with every password in it shown as ***: the user info's, and the `password` and
    `sslpassword` query parameters libpq and asyncpg also accept (managed providers hand some
    URLs out that way). Nothing else is rewritten: several hosts, a socket folder in `?host=`
    and percent-encoding are shown as given."""
    try:
        parts = urlsplit(dsn)
    except ValueError:  # an unclosed [IPv6 literal: the configuration refuses these
        return "a database URL that does not parse"
    # The last @ ends the user info: an unencoded @ in a password stays masked.
    userinfo, at, hosts = parts.netloc.rpartition("@")
    netloc = f"{userinfo.partition(':')[0]}:{_MASK}@{hosts}" if at and ":" in userinfo else None
    shown = f"{parts.scheme}://{parts.netloc if netloc is None else netloc}{parts.path}"
    if parts.query:
        shown += "?" + "&".join(_mask_parameter(pair) for pair in parts.query.split("&"))
    if parts.fragment:
        shown += f"#{parts.fragment}"
    return shown


def _mask_parameter(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    # asyncpg decodes the names (parse_qs): pass%77ord is a password too.
    if equals and unquote_plus(name).lower() in _SECRET_PARAMETERS:
        return f"{name}={_MASK}"
    return pair


def mask_account_sid(sid: str) -> str:
    return f"{sid[:4]}…{sid[-4:]}"


def start_lines(settings: Settings, *, listening: str, public: str) -> list[str]:
    """The start-up log, one line per fact (the listening line is logged once serving)."""
    if settings.public_url_configured:
        public_line = f"public URL: {public} (OUTAGE_VOICE_PUBLIC_URL)"
    else:
        public_line = (
            f"public URL: {public} (OUTAGE_VOICE_PUBLIC_URL is unset: it follows the address "
            "bound; set it to the URL a carrier outside this machine reaches)"
        )
    if settings.database_url is None:
        database = f"database: embedded PostgreSQL, data in {settings.pgdata}"
    else:
        database = f"database: {mask_database_url(settings.database_url)}"
        if settings.database_pooler == "transaction":
            database += " (through a transaction pooler)"
    database += f", a pool of {settings.pool_size} connections"
    if settings.database_leader_url is not None:
        database += (
            f"; leader lock and migrations at {mask_database_url(settings.database_leader_url)}"
        )
    if settings.twilio is not None:
        carrier = f"carrier: Twilio account {mask_account_sid(settings.twilio.account_sid)}"
        if settings.twilio_api_url is not None:
            carrier += f" at {settings.twilio_api_url}"
    elif settings.twilio_api_url is not None:
        carrier = f"carrier: the virtual carrier's account at {settings.twilio_api_url}"
    else:
        carrier = f"carrier: the built-in virtual carrier, at {public}/virtual-carrier"
    if settings.tts_engine == "gtts":
        tts = "text-to-speech: gTTS (online), espeak-ng when it fails"
    else:
        tts = "text-to-speech: espeak-ng (offline)"
    unset = [name for name, attribute in _OPTIONAL_NUMBERS if getattr(settings, attribute) is None]
    if settings.twilio is not None and settings.twilio.from_number is None:
        unset.append("TWILIO_FROM_NUMBER")
    numbers = (
        "optional numbers unset: " + ", ".join(unset) if unset else "optional numbers: all set"
    )
    return [public_line, database, carrier, tts, numbers]
