#!/usr/bin/env python3
"""The project's one test command: set up .venv if needed, then lint, type-check and test.

Needs nothing but Python 3.11+. Extra arguments go to pytest (e.g. `-k lookup`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if sys.platform == "win32" else "bin")
# The browser tests drive Debian's Chromium (never a browser Playwright downloads).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_PACKAGES = ("chromium", "fonts-liberation")  # fonts: readable screenshots
# The suite in two processes took 6 min 41 s against 11 min 10 s in one, on 2 cores.
PYTEST_WORKERS = 2
# The PgBouncer tests run Debian's pgbouncer in transaction pooling mode, as a utility would.
# Where services run, the package also starts its own on localhost:6432; the tests' each
# listen on a free port with files of their own, so it is left alone.
PGBOUNCER = Path("/usr/sbin/pgbouncer")
PGBOUNCER_PACKAGES = ("pgbouncer",)


def run(*command: str | Path) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    result = subprocess.run([str(part) for part in command], cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_debian_packages(binary: Path, packages: tuple[str, ...], *, used_by: str) -> None:
    """Installs Debian packages with apt when `binary` is missing and we may (root, apt
    present). Otherwise the tests that need it skip themselves, saying why."""
    if binary.exists() or sys.platform != "linux":
        return
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        print(
            f"note: {binary} is missing and cannot be installed here (needs root and apt-get);"
            f" {used_by} will be skipped. Install it with: apt-get install {' '.join(packages)}",
            flush=True,
        )
        return
    print(f"+ apt-get install {' '.join(packages)} (for {used_by})", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-qq", "--no-install-recommends", *packages]
    for attempt in (1, 2):
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if result.returncode == 0 and binary.exists():
            return
        if attempt == 1:  # package lists missing or stale on a fresh machine
            subprocess.run([apt, "update", "-qq"], env=env, capture_output=True, check=False)
    print(
        f"note: apt-get could not install {packages[0]} (exit {result.returncode}); {used_by}"
        f" will fail until {binary} exists:\n{result.stderr.strip()[-2000:]}",
        flush=True,
    )


def ensure_chromium() -> None:
    ensure_debian_packages(CHROMIUM, CHROMIUM_PACKAGES, used_by="the browser tests")


def ensure_pgbouncer() -> None:
    ensure_debian_packages(PGBOUNCER, PGBOUNCER_PACKAGES, used_by="the PgBouncer tests")


def main() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"outage-voice needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        venv.create(VENV, with_pip=True)
    python = BIN / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ".[test]")
    ensure_chromium()
    ensure_pgbouncer()
    run(python, "-m", "ruff", "check", "src", "tests", "bench", "scripts")
    run(python, "-m", "ruff", "format", "--check", "src", "tests", "bench", "scripts")
    run(python, "-m", "mypy")
    # Each worker starts its own PostgreSQL and template database, and takes whole files
    # (their module fixtures and servers stay in one process; the files timing several
    # processes go to one worker together: tests/conftest.py). `-n 0` after it runs serially.
    workers = str(min(PYTEST_WORKERS, os.cpu_count() or 1))
    run(python, "-m", "pytest", "-n", workers, "--dist", "loadgroup", *sys.argv[1:])


if __name__ == "__main__":
    main()
