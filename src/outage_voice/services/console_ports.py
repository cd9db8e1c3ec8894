"""What the console's live feed needs from the database: a campaign's calls placed over the
last minutes, and the numbers waiting for a time still to come."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, kw_only=True, slots=True)
class DueCount:
    at: datetime
    targets: int


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitingTargets:
    """Numbers of a campaign waiting for a time still to come."""

    retries: int
    next_retry_at: datetime | None
    retries_due: list[DueCount]
    out_of_window: int  # never tried: outside their calling window when their turn came
    next_window_at: datetime | None


class ConsoleStore(Protocol):
    async def calls_placed(
        self, campaign_id: int, *, since: datetime, until: datetime, bucket_s: int
    ) -> dict[int, int]:
        """Calls placed in (since, until] by bucket number (0 the oldest)."""
        ...

    async def waiting(self, campaign_id: int, now: datetime) -> WaitingTargets: ...
