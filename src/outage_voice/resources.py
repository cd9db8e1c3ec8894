"""Where the SQL and prompt files live, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """A wheel carries `sql/` and `prompts/` in the package; a checkout keeps them at its root."""
    bundled = _PACKAGE_DIR / "_resources" / name
    if bundled.is_dir():
        return bundled
    checkout = _PACKAGE_DIR.parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"resource folder {name!r} not found (looked in {bundled} and {checkout})"
    )
