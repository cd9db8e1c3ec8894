"""API roles and what each may do."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

TOKEN_PREFIX = "ov_"  # noqa: S105 - a visible prefix so leaked tokens are recognisable, not a secret


class Role(StrEnum):
    OMS = "oms"
    SUPERVISOR = "supervisor"
    VIEWER = "viewer"


def token_hash(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough to make a stolen table useless."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """Who is asking: an API token, or a person signed in to the console (one of the two ids)."""

    name: str
    role: Role
    token_id: int | None = None
    user_id: int | None = None

    @property
    def actor(self) -> str:
        if self.user_id is not None:
            return f"user:{self.user_id}:{self.name}"
        return f"token:{self.token_id}:{self.name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenInfo:
    """What may be shown of a token: never the token, nor its hash."""

    token_id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
