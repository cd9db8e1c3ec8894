"""API roles and what each may do."""

from __future__ import annotations

import hashlib
from enum import StrEnum

TOKEN_PREFIX = "ov_"  # noqa: S105 - a visible prefix so leaked tokens are recognisable, not a secret


class Role(StrEnum):
    OMS = "oms"
    SUPERVISOR = "supervisor"
    VIEWER = "viewer"


def token_hash(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough to make a stolen table useless."""
    return hashlib.sha256(token.encode()).hexdigest()
