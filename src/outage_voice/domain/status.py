"""What the outage line needs to know about a caller: their premises and any outage there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from outage_voice.domain.outages import CrewStatus, OutageStatus


class LookupKey(StrEnum):
    PHONE = "phone"
    ACCOUNT = "account"
    PREMISE = "premise"


@dataclass(frozen=True, kw_only=True, slots=True)
class Premise:
    premise_id: str
    service_address: str
    feeder_id: str | None
    timezone: str
    language: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ActiveOutage:
    outage_id: str
    status: OutageStatus
    cause: str | None
    crew_status: CrewStatus
    etr: datetime | None
    planned: bool
    starts_at: datetime | None
    ends_at: datetime | None
    updated_at: datetime
    # How many customers (accounts) the outage affects, this caller's included; None: unknown.
    customers_affected: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountStatus:
    account_number: str
    name: str
    premise: Premise
    outage: ActiveOutage | None


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusLookup:
    key: LookupKey
    accounts: tuple[AccountStatus, ...]

    @property
    def found(self) -> bool:
        return bool(self.accounts)

    @property
    def premises(self) -> tuple[Premise, ...]:
        """Distinct premises in lookup order (one household phone may cover several accounts)."""
        seen: dict[str, Premise] = {}
        for account in self.accounts:
            seen.setdefault(account.premise.premise_id, account.premise)
        return tuple(seen.values())

    @property
    def with_outage(self) -> tuple[AccountStatus, ...]:
        return tuple(account for account in self.accounts if account.outage is not None)
