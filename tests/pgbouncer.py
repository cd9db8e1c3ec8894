"""Debian's PgBouncer in front of a test's PostgreSQL, in transaction pooling mode, as a
utility runs it in front of theirs.

scripts/check.py installs the `pgbouncer` package with apt when it is missing and it may
(root), and so does the first test that needs it when pytest is run directly as root.
Each running_pgbouncer has its own configuration, log and pid files under the folder it is
given, and listens on a free loopback port only (no Unix socket): a system PgBouncer service
on port 6432 is left alone. Run as root, it is started as another user (PgBouncer refuses
root), so it logs to its standard error, which the test writes to the log file: that user
could not open a file in a test's private folder.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

from tests.integration.test_server import free_port
from tests.support import REPO_ROOT

_DEBIAN_PATH = Path("/usr/sbin/pgbouncer")


def _find() -> Path | None:
    found = shutil.which("pgbouncer")
    if found:
        return Path(found)
    return _DEBIAN_PATH if _DEBIAN_PATH.exists() else None


PGBOUNCER: Path | None = _find()
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
# Clients PgBouncer accepts in all: every pool of every instance of a test fits.
MAX_CLIENT_CONN = 500
# PgBouncer will not run as root. As root it is told to become the owner of the upstream
# server's socket folder (the embedded server's system user), else one of these.
RUN_AS = ("postgres", "nobody")


def require_pgbouncer() -> Path:
    """PgBouncer's path, installed with apt as scripts/check.py does when missing and root.
    The test is skipped, saying why, when it is missing and cannot be installed here."""
    global PGBOUNCER
    if PGBOUNCER is None and os.geteuid() == 0:
        _check_script().ensure_pgbouncer()
        PGBOUNCER = _find()
    if PGBOUNCER is not None:
        return PGBOUNCER
    if os.geteuid() != 0:
        pytest.skip(
            "pgbouncer is not installed and cannot be installed without root:"
            " apt-get install pgbouncer, or run the tests through scripts/check.py as root"
        )
    pytest.fail("pgbouncer is missing and apt-get could not install it (see the output above)")


def _check_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_script", REPO_ROOT / "scripts/check.py")
    assert spec is not None and spec.loader is not None
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    return check


@dataclass(frozen=True, kw_only=True, slots=True)
class _Upstream:
    connection: str  # PgBouncer's connection string for every database of the server
    host: str  # a socket folder or a host name
    user: str  # the user PgBouncer logs in as, whoever its client says it is
    database: str  # the database the DSN names


def _upstream(dsn: str) -> _Upstream:
    parts = urlsplit(dsn)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    host = query.get("host") or parts.hostname or "127.0.0.1"
    port = query.get("port") or (str(parts.port) if parts.port else "5432")
    user = unquote(parts.username or "") or query.get("user") or "postgres"
    fields = [f"host={host}", f"port={port}", f"user={user}"]
    password = unquote(parts.password or "") or query.get("password")
    if password:
        fields.append(f"password={password}")
    database = unquote(parts.path.lstrip("/")) or query.get("dbname") or user
    return _Upstream(connection=" ".join(fields), host=host, user=user, database=database)


def _run_as(host: str) -> str | None:
    if os.geteuid() != 0:
        return None
    if host.startswith("/"):
        with contextlib.suppress(OSError, KeyError):
            owner = os.stat(host).st_uid
            if owner != 0:
                return pwd.getpwuid(owner).pw_name
    for name in RUN_AS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError(f"pgbouncer will not run as root and none of {RUN_AS} exists")


@contextlib.contextmanager
def running_pgbouncer(upstream_dsn: str, workdir: Path, *, pool_size: int = 10) -> Iterator[str]:
    """A pgbouncer in transaction pooling mode in front of upstream_dsn (unix socket or TCP),
    listening on 127.0.0.1:<free port>; yields the DSN to use through it. Stopped on exit."""
    binary = require_pgbouncer()
    upstream = _upstream(upstream_dsn)
    user = _run_as(upstream.host)
    workdir.mkdir(parents=True, exist_ok=True)
    config, log, pid = (
        workdir / "pgbouncer.ini",
        workdir / "pgbouncer.log",
        workdir / "pgbouncer.pid",
    )
    port = free_port()
    config.write_text(
        "\n".join(
            [
                "[databases]",
                # Any database name a client asks for, on the upstream server.
                f"* = {upstream.connection}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                # Loopback only, for tests: the upstream server checks the forced user.
                "auth_type = any",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                f"max_client_conn = {MAX_CLIENT_CONN}",
                "",
            ]
        ),
        encoding="utf-8",
    )
    command = [str(binary), *(("-u", user) if user else ()), str(config)]
    # Its own standard error: the user it runs as could not open a file in this folder.
    with log.open("ab") as log_file:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        pid.write_text(f"{process.pid}\n", encoding="utf-8")
        _wait_listening(process, port, log)
        yield f"postgresql://{quote(upstream.user)}@127.0.0.1:{port}/{quote(upstream.database)}"
    finally:
        _stop(process)


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"pgbouncer exited with {process.returncode}:\n{text}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # a process starting up: there is nothing to be told about
    raise RuntimeError(f"pgbouncer did not listen on 127.0.0.1:{port} in {START_TIMEOUT_S} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # immediate shutdown: clients are cut off
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
