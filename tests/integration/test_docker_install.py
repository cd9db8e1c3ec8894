"""The Dockerfile's install step, run for real, yields a working `outage-voice`.

No image can be built on this machine, so the test does what the build does, outside Docker:
the files the Dockerfile COPYs (filtered by .dockerignore, so a rule that drops something the
package needs fails here) go into a temporary folder, and the Dockerfile's own `pip install`
line (read from the Dockerfile, not copied into this test) runs in a fresh `python -m venv`.
The installed `outage-voice` then runs the image's CMD, on a free loopback port, against an
empty database it migrates from the migrations packaged in the wheel, and the image's
HEALTHCHECK command must pass against it.

The fresh venv gets the test environment's third-party packages through a .pth file: the
project itself is still built from the copied sources by pip (hatchling, in pip's isolated
build environment) and installed into the fresh venv, and pip still checks every declared
dependency against what it finds. Downloading and unpacking every dependency instead (the
embedded PostgreSQL wheel alone is over 100 MB) measured 44 s and 408 MB here, against 8.5 s
for this (24 s with the two cores loaded by other work); the suite must stay well under ten
minutes on two shared cores. The build backend, fetched from the package index into pip's
build environment as Docker's build fetches it, is the only download.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sysconfig
import time
import venv
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

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


def fresh_venv(folder: Path) -> Path:
    """A new venv on the base interpreter, seeing this environment's third-party packages
    (after its own) but not this checkout's sources."""
    started = time.monotonic()
    # Without pip of its own: this environment's pip, found through the .pth file, installs
    # into the venv it runs in (saves the seconds ensurepip takes).
    venv.EnvBuilder(with_pip=False).create(folder)
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
    tmp_path: Path, empty_database_dsn: str
) -> None:
    instructions = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    image_root = tmp_path / "image"
    copy_build_inputs(instructions, image_root)
    python = fresh_venv(tmp_path / "venv")
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
    assert Path(where).is_relative_to(tmp_path / "venv"), where

    command = only(instructions, "CMD").exec_form()
    program = shutil.which(command[0], path=env["PATH"])
    assert program is not None and Path(program).parent == bin_dir, program
    helped = subprocess.run(
        [program, "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr

    # The image's command and health check, on a free loopback port instead of 8080.
    port = free_port()
    served_port = command[command.index("--port") + 1]
    serve = [program, *command[1:]]
    serve[serve.index("--host") + 1] = "127.0.0.1"
    serve[serve.index("--port") + 1] = str(port)
    home = tmp_path / "home"
    assert "OUTAGE_VOICE_HOME" in image_env(instructions)
    process = subprocess.Popen(
        serve,
        env={**env, "DATABASE_URL": empty_database_dsn, "OUTAGE_VOICE_HOME": str(home)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = time.monotonic()
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process, timeout_s=60.0)
        print(f"serve healthy after {time.monotonic() - started:.1f} s")
        check = healthcheck_command(instructions)
        check = [arg.replace(f":{served_port}/", f":{port}/") for arg in check]
        checked = subprocess.run(
            [shutil.which(check[0], path=env["PATH"]) or check[0], *check[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=STOP_TIMEOUT_S)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # Every migration came from the installed package (the wheel's resources), applied at start.
    applied = [line for line in stderr.splitlines() if "applied migration" in line]
    assert len(applied) == len(list((REPO_ROOT / "sql" / "migrations").glob("*.sql"))), stderr
    assert "Traceback" not in stderr
