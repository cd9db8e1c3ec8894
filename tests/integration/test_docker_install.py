"""The Dockerfile's install step, run for real, yields a working `outage-voice`.

No image can be built on this machine, so the test does what the build does, outside Docker:
the files the Dockerfile COPYs (filtered by .dockerignore, so a rule that drops something the
package needs fails here) go into a temporary folder, and the Dockerfile's own `pip install`
line (read from the Dockerfile, not copied into this test) runs in a fresh `python -m venv`.
The installed `outage-voice` then runs the image's CMD, on a free loopback port, against an
empty database it migrates from the migrations packaged in the wheel, and the image's
HEALTHCHECK command must pass against it, and so must an operator's command that writes the
audio cache. All run as the image's USER would: not as root. A test process running as root (as
on the development machine) installs as root, as the build does, and runs the rest as `nobody`,
from a home folder that user owns; so a package file only root can read, or a state folder the
user cannot write, fails here. That user needs a Python it may run (a pyenv under /root is not
one: the system's Python of the same version is used instead) and reaches the tests' embedded
PostgreSQL, whose socket lies in a folder of its own user's, through a loopback relay.

The fresh venv gets the test environment's third-party packages through a .pth file: the
project itself is still built from the copied sources by pip (hatchling, in pip's isolated
build environment) and installed into the fresh venv, and pip still checks every declared
dependency against what it finds. Downloading and unpacking every dependency instead (the
ffmpeg wheel alone unpacks to about 170 MB) measured 44 s and 408 MB here, against 8.5 s for
this (24 s with the two cores loaded by other work); the suite must stay well under ten minutes
on two shared cores. The build backend, fetched from the package index into pip's build
environment as Docker's build fetches it, is the only download. When pip cannot reach any index
offering it, the test is skipped and says so; a slow index only makes it slower (the install's
time limit fails the test, it does not skip it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_cluster import Relay
from tests.integration.test_server import free_port, wait_healthy
from tests.support import REPO_ROOT, cli_env
from tests.unit.test_docker_files import (
    DOCKERFILE,
    DOCKERIGNORE,
    copies,
    dockerignore_excludes,
    healthcheck_command,
    image_env,
    install_step,
    only,
    parse_dockerfile,
)

INSTALL_TIMEOUT_S = 240.0
COMMAND_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# Who runs the image's command when the tests run as root: the image's own user is created at
# build time and exists only inside the image.
UNPRIVILEGED_USER = "nobody"
# What pip says when a connection to an index fails outright. A slow index says none of this.
_NO_CONNECTION = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Network is unreachable|No route to host|"
    r"ConnectTimeoutError|ProxyError|Could not fetch URL"
)


def build_backend_requirements() -> list[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requires: list[str] = project["build-system"]["requires"]
    return requires


def unreachable_index(pip_output: str) -> str | None:
    """Why pip could not install the build backend, when that is because it could not connect
    to a package index; None for any other failure (a wrong requirement, a broken build)."""
    if "install build dependencies did not run successfully" not in pip_output:
        return None
    missing = [
        requirement
        for requirement in build_backend_requirements()
        if f"No matching distribution found for {requirement}" in pip_output
    ]
    connection = _NO_CONNECTION.search(pip_output)
    if not missing or connection is None:
        return None
    line = next(line for line in pip_output.splitlines() if connection.group(0) in line)
    return f"pip reaches no package index offering {', '.join(missing)}: {line.strip()[:300]}"


def as_image_user() -> dict[str, Any]:
    """subprocess arguments that run a command as the image's USER would: unprivileged. Empty
    when this process is not root (it is unprivileged already)."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(UNPRIVILEGED_USER)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@pytest.fixture
def image_folder(tmp_path: Path) -> Iterator[Path]:
    """Where the installed program and its home live: a folder the image's user can enter.
    pytest's own temporary folders are root's alone when the tests run as root."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="outage-voice-image-"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def base_python(run_as: Mapping[str, Any]) -> str:
    """This Python's version, as an interpreter the image's user can run with its own standard
    library: this environment's base interpreter, or the system's when that one lies in a folder
    only root may enter (a pyenv under /root)."""
    wanted = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [getattr(sys, "_base_executable", sys.executable)]
    candidates += [f"/usr/local/bin/{wanted}", f"/usr/bin/{wanted}"]
    probe = "import sys; print(sys.version_info[:2], sys.base_prefix)"

    def ran(candidate: str, kwargs: Mapping[str, Any]) -> str:
        try:
            done = subprocess.run(
                [candidate, "-I", "-c", probe],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
                cwd="/",
                **kwargs,
            )
        except PermissionError as exc:  # a folder on its path the user may not enter
            return str(exc)
        return f"{done.returncode} {done.stdout}"

    for candidate in dict.fromkeys(candidates):
        if not os.access(candidate, os.X_OK):
            continue
        own = ran(candidate, {})
        if own == ran(candidate, run_as) and own.startswith(f"0 {sys.version_info[:2]} "):
            return candidate
    pytest.skip(f"no {wanted} here that {UNPRIVILEGED_USER} can run, tried {candidates}")


def process_uid(pid: int) -> int:
    """The real uid of a running process (the first field of /proc's Uid line)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    match = re.search(r"^Uid:\s+(\d+)", status, re.M)
    assert match is not None, status
    return int(match.group(1))


def copy_build_inputs(instructions: list[Any], image_root: Path) -> None:
    """Each COPY, from the build context as .dockerignore leaves it, into image_root."""
    excluded = dockerignore_excludes(DOCKERIGNORE.read_text(encoding="utf-8"))
    for sources, destination in copies(instructions):
        for source in sources:
            target = image_root / PurePosixPath(destination).relative_to("/")
            if destination.endswith("/"):
                target = target / PurePosixPath(source).name
            origin = REPO_ROOT / source
            files = [origin] if origin.is_file() else sorted(origin.rglob("*"))
            for path in files:
                relative = path.relative_to(REPO_ROOT).as_posix()
                if not path.is_file() or excluded(relative):
                    continue
                copied = target / path.relative_to(origin) if origin.is_dir() else target
                copied.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copied)


def fresh_venv(folder: Path, base: str) -> Path:
    """A new venv on the base interpreter, seeing this environment's third-party packages
    (after its own) but not this checkout's sources."""
    started = time.monotonic()
    # Without pip of its own: this environment's pip, found through the .pth file, installs
    # into the venv it runs in (saves the seconds ensurepip takes).
    subprocess.run(
        [base, "-I", "-m", "venv", "--without-pip", str(folder)],
        check=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    python = folder / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=COMMAND_TIMEOUT_S,
    ).stdout.strip()
    # A plain path line: .pth files inside it (this checkout's editable install) are not read.
    (Path(site) / "_test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    print(f"fresh venv: {time.monotonic() - started:.1f} s")
    return python


def in_image(argv: list[str], image_root: Path) -> list[str]:
    """An argument naming a path the Dockerfile copied to, moved under image_root."""
    moved = []
    for word in argv:
        if word.startswith("/") and (image_root / word.lstrip("/")).exists():
            word = str(image_root / word.lstrip("/"))
        moved.append(word)
    return moved


@pytest.mark.timeout(INSTALL_TIMEOUT_S + 120)
async def test_the_dockerfiles_install_step_yields_a_server_that_passes_its_health_check(
    tmp_path: Path, image_folder: Path, empty_database_dsn: str
) -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    image_root = tmp_path / "image"
    copy_build_inputs(instructions, image_root)
    run_as = as_image_user()
    python = fresh_venv(image_folder / "venv", base_python(run_as))
    bin_dir = python.parent
    env = cli_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONPATH", None)

    pip_argv = install_step(instructions)
    started = time.monotonic()
    installed = subprocess.run(
        [str(python), "-m", *in_image(pip_argv, image_root)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    install_s = time.monotonic() - started
    if installed.returncode != 0 and (
        why := unreachable_index(installed.stdout + installed.stderr)
    ):
        pytest.skip(f"the image's install step needs its build backend from an index: {why}")
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    print(f"install step: {install_s:.1f} s")

    # The program the image runs is the one just installed, not this checkout's.
    where = subprocess.run(
        [str(python), "-c", "import outage_voice; print(outage_voice.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(image_folder / "venv"), where

    command = only(instructions, "CMD").exec_form()
    program = shutil.which(command[0], path=env["PATH"])
    assert program is not None and Path(program).parent == bin_dir, program
    # The image's user, in the state folder the image makes its home and working folder (its
    # volume): owned by that user, as the Dockerfile's chown leaves it.
    home = image_folder / "home"
    home.mkdir(mode=0o755)
    if run_as:
        os.chown(home, run_as["user"], run_as["group"])
    image_user = {**run_as, "cwd": home}
    env = {**env, "HOME": str(home)}
    assert image_env(instructions)["OUTAGE_VOICE_HOME"] == only(instructions, "WORKDIR").args
    helped = subprocess.run(
        [program, "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
        **image_user,
    )
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr

    # The image's command and health check, on a free loopback port instead of 8080.
    port = free_port()
    served_port = command[command.index("--port") + 1]
    serve = [program, *command[1:]]
    serve[serve.index("--host") + 1] = "127.0.0.1"
    serve[serve.index("--port") + 1] = str(port)
    async with database_for(empty_database_dsn, unprivileged=bool(run_as)) as database_url:
        stderr = await serve_and_check(
            serve,
            {**env, "DATABASE_URL": database_url, "OUTAGE_VOICE_HOME": str(home)},
            image_user,
            healthcheck=healthcheck_command(instructions),
            served_port=served_port,
            port=port,
        )
    # Every migration came from the installed package (the wheel's resources), applied at start.
    applied = [line for line in stderr.splitlines() if "applied migration" in line]
    assert len(applied) == len(list((REPO_ROOT / "sql" / "migrations").glob("*.sql"))), stderr
    assert "Traceback" not in stderr


@contextlib.asynccontextmanager
async def database_for(dsn: str, *, unprivileged: bool) -> AsyncIterator[str]:
    """The database's URL as the image's user reaches it. The tests' embedded server listens
    only on a socket in its data folder, which only its own system user (and root) may enter:
    an unprivileged server reaches it through a loopback TCP relay run by this process."""
    if not (unprivileged and "host=/" in urlsplit(dsn).query):
        yield dsn
        return
    async with Relay(dsn).running() as relay:
        yield relay.dsn


async def serve_and_check(
    serve: list[str],
    env: dict[str, str],
    image_user: Mapping[str, Any],
    *,
    healthcheck: list[str],
    served_port: str,
    port: int,
) -> str:
    """Runs the image's command until healthy, its health check and an operator's command
    against it, then stops it with SIGTERM as `docker stop` does; returns its stderr. Blocking
    waits run in threads, so a relay in this event loop keeps serving the database meanwhile."""
    process = subprocess.Popen(
        serve,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **image_user,
    )
    try:
        started = time.monotonic()
        try:
            await wait_healthy(f"http://127.0.0.1:{port}/healthz", process, timeout_s=60.0)
        except AssertionError as exc:
            process.kill()
            _, stderr = await asyncio.to_thread(process.communicate)
            raise AssertionError(f"{exc}: {stderr[-3000:]}") from exc
        print(f"serve healthy after {time.monotonic() - started:.1f} s")
        uid = process_uid(process.pid)
        assert uid != 0 and uid == image_user.get("user", os.getuid()), uid
        check = [arg.replace(f":{served_port}/", f":{port}/") for arg in healthcheck]
        checked = await asyncio.to_thread(
            subprocess.run,
            [shutil.which(check[0], path=env["PATH"]) or check[0], *check[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            **image_user,
        )
        assert checked.returncode == 0, checked.stderr
        # An operator's command in the running container (`docker compose exec ov1 ...`), as
        # the same user: the speech engine's data and ffmpeg readable, the audio cache on the
        # volume writable.
        warmed = await asyncio.to_thread(
            subprocess.run,
            [serve[0], "prompts", "warm", "--lang", "en"],
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            **image_user,
        )
        assert warmed.returncode == 0, warmed.stdout + warmed.stderr
        audio = list(Path(env["OUTAGE_VOICE_HOME"]).rglob("*.wav"))
        assert audio and {p.stat().st_uid for p in audio} == {uid}, audio[:3]
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=STOP_TIMEOUT_S)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.communicate)
    return stderr


@pytest.mark.timeout(COMMAND_TIMEOUT_S * 2)
def test_an_index_pip_cannot_reach_skips_the_install_with_the_reason(tmp_path: Path) -> None:
    """pip, given only an index on a closed loopback port, fails to fetch the build backend: the
    install test would skip with that reason. Any other install failure still fails it."""
    instructions = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    image_root = tmp_path / "image"
    copy_build_inputs(instructions, image_root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL=f"http://127.0.0.1:{free_port()}/simple",
        PIP_RETRIES="1",
    )
    argv = in_image(install_step(instructions), image_root)
    argv[-1:-1] = ["--target", str(tmp_path / "target")]
    failed = subprocess.run(
        [sys.executable, "-m", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert failed.returncode != 0
    why = unreachable_index(failed.stdout + failed.stderr)
    assert why is not None, failed.stdout + failed.stderr
    assert all(requirement in why for requirement in build_backend_requirements()), why
    assert "Failed to establish a new connection" in why
    # The same failure with no sign of a connection refused (a requirement no index offers).
    nothing_offered = re.sub(_NO_CONNECTION, "", failed.stdout + failed.stderr)
    assert unreachable_index(nothing_offered) is None
