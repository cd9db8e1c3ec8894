"""What the carrier tells of a call it placed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class CarrierCall:
    sid: str
    to: str
    from_: str
    status: str
    answered_by: str | None = None
    duration_s: int | None = None
