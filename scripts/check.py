#!/usr/bin/env python3
"""The project's one test command: set up .venv if needed, then lint, type-check and test.

Needs nothing but Python 3.11+. Extra arguments go to pytest (e.g. `-k lookup`).
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if sys.platform == "win32" else "bin")


def run(*command: str | Path) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    result = subprocess.run([str(part) for part in command], cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def main() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"outage-voice needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        venv.create(VENV, with_pip=True)
    python = BIN / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ".[test]")
    run(python, "-m", "ruff", "check", "src", "tests", "bench", "scripts")
    run(python, "-m", "ruff", "format", "--check", "src", "tests", "bench", "scripts")
    run(python, "-m", "mypy")
    run(python, "-m", "pytest", *sys.argv[1:])


if __name__ == "__main__":
    main()
