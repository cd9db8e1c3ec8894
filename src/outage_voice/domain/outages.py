"""Outage state as the OMS sends it, and the rules it must obey before it is stored."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from outage_voice.domain.errors import InvalidField


class OutageStatus(StrEnum):
    REPORTED = "reported"
    CONFIRMED = "confirmed"
    CREW_DISPATCHED = "crew_dispatched"
    CREW_ON_SITE = "crew_on_site"
    RESTORED = "restored"
    CANCELLED = "cancelled"

    @property
    def is_active(self) -> bool:
        return self not in (OutageStatus.RESTORED, OutageStatus.CANCELLED)


class CrewStatus(StrEnum):
    NONE = "none"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"


# An OMS clock a little behind ours must not turn a fresh ETR into a rejected request.
ETR_PAST_TOLERANCE = timedelta(minutes=2)
MAX_CAUSE_CHARS = 200
MAX_ID_CHARS = 100
MAX_IDS = 200_000
# More customers than any utility serves: a figure above it is a mistake, not an outage.
MAX_CUSTOMERS_AFFECTED = 100_000_000
OMS_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_RANGE = datetime(2201, 1, 1, tzinfo=UTC)
_OMS_ID = re.compile(OMS_ID_PATTERN)

_KNOWN_FIELDS = frozenset(
    {
        "status",
        "cause",
        "etr",
        "premise_ids",
        "feeder_ids",
        "planned",
        "starts_at",
        "ends_at",
        "alternate_starts_at",
        "customers_affected",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageState:
    status: OutageStatus
    cause: str | None
    etr: datetime | None
    premise_ids: tuple[str, ...]
    feeder_ids: tuple[str, ...]
    planned: bool
    starts_at: datetime | None
    ends_at: datetime | None
    # The OMS's own count of customers out; None: counted from the customer file instead.
    customers_affected: int | None = None
    # Planned work's bad-weather date (the same duration as the work); planned work only.
    alternate_starts_at: datetime | None = None

    @property
    def crew_status(self) -> CrewStatus:
        if self.status is OutageStatus.CREW_ON_SITE:
            return CrewStatus.ON_SITE
        if self.status is OutageStatus.CREW_DISPATCHED:
            return CrewStatus.DISPATCHED
        return CrewStatus.NONE

    def canonical(self) -> dict[str, Any]:
        """A JSON-ready form in which equal states are equal, whatever order or offset was sent."""
        canonical: dict[str, Any] = {
            "status": self.status.value,
            "cause": self.cause,
            "etr": _iso(self.etr),
            "premise_ids": list(self.premise_ids),
            "feeder_ids": list(self.feeder_ids),
            "planned": self.planned,
            "starts_at": _iso(self.starts_at),
            "ends_at": _iso(self.ends_at),
        }
        # Absent rather than null: states stored before the OMS could send it stay equal.
        if self.customers_affected is not None:
            canonical["customers_affected"] = self.customers_affected
        if self.alternate_starts_at is not None:
            canonical["alternate_starts_at"] = _iso(self.alternate_starts_at)
        return canonical


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def check_outage_id(outage_id: str) -> str:
    """The OMS's name for an outage, as it appears in the URL."""
    if not _OMS_ID.fullmatch(outage_id):  # `$` alone would let a trailing newline in
        raise InvalidField("outage_id", "must be 1-100 letters, digits, '.', '_', ':' or '-'")
    return outage_id


def parse_rfc3339(field: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidField(field, "must be an RFC 3339 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(field, f"{value!r} is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise InvalidField(field, "needs a UTC offset (e.g. 2026-11-23T16:30:00-06:00)")
    # Near year 1 or 9999 an offset pushes the instant past what a datetime (or PostgreSQL)
    # holds; no outage, report or campaign lives outside these years.
    try:
        in_range = EARLIEST <= parsed < END_OF_RANGE
    except OverflowError:
        in_range = False
    if not in_range:
        raise InvalidField(
            field, f"must be between {EARLIEST.year} and {END_OF_RANGE.year - 1} (UTC)"
        )
    return parsed


def _optional_datetime(body: Mapping[str, Any], field: str) -> datetime | None:
    value = body.get(field)
    return None if value is None else parse_rfc3339(field, value)


def _id_list(body: Mapping[str, Any], field: str) -> tuple[str, ...]:
    value = body.get(field)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidField(field, "must be a list of strings")
    if len(value) > MAX_IDS:
        raise InvalidField(field, f"more than {MAX_IDS} entries")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise InvalidField(f"{field}[{index}]", "must be a non-empty string")
        if len(item) > MAX_ID_CHARS:
            raise InvalidField(f"{field}[{index}]", f"longer than {MAX_ID_CHARS} characters")
    return tuple(sorted({item.strip() for item in value}))


def parse_outage_state(body: object, *, now: datetime) -> OutageState:
    """Validate the OMS's full outage state; the first problem found names its field."""
    if not isinstance(body, dict):
        raise InvalidField("body", "must be a JSON object")
    for field in body:
        if field not in _KNOWN_FIELDS:
            raise InvalidField(str(field), "unknown field")
    raw_status = body.get("status")
    if raw_status is None:
        raise InvalidField("status", "is required")
    try:
        status = OutageStatus(raw_status)
    except ValueError:
        allowed = ", ".join(s.value for s in OutageStatus)
        raise InvalidField("status", f"must be one of {allowed}") from None
    cause = body.get("cause")
    if cause is not None:
        if not isinstance(cause, str):
            raise InvalidField("cause", "must be a string or null")
        cause = cause.strip() or None
        if cause is not None and len(cause) > MAX_CAUSE_CHARS:
            raise InvalidField("cause", f"longer than {MAX_CAUSE_CHARS} characters")
    planned = body.get("planned", False)
    if not isinstance(planned, bool):
        raise InvalidField("planned", "must be true or false")
    etr = _optional_datetime(body, "etr")
    if etr is not None and status.is_active and etr < now - ETR_PAST_TOLERANCE:
        raise InvalidField("etr", "is in the past for an outage that is not restored")
    starts_at = _optional_datetime(body, "starts_at")
    ends_at = _optional_datetime(body, "ends_at")
    if planned and (starts_at is None or ends_at is None):
        raise InvalidField(
            "starts_at" if starts_at is None else "ends_at", "is required for planned work"
        )
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise InvalidField("ends_at", "must be after starts_at")
    alternate = _optional_datetime(body, "alternate_starts_at")
    if alternate is not None and not planned:
        raise InvalidField("alternate_starts_at", "is only for planned work")
    if "premise_ids" not in body and "feeder_ids" not in body:
        raise InvalidField("premise_ids", "premise_ids or feeder_ids is required")
    customers = body.get("customers_affected")
    if customers is not None and (
        not isinstance(customers, int)
        or isinstance(customers, bool)
        or not 0 <= customers <= MAX_CUSTOMERS_AFFECTED
    ):
        raise InvalidField(
            "customers_affected", f"must be a whole number from 0 to {MAX_CUSTOMERS_AFFECTED}"
        )
    return OutageState(
        status=status,
        cause=cause,
        etr=etr,
        premise_ids=_id_list(body, "premise_ids"),
        feeder_ids=_id_list(body, "feeder_ids"),
        planned=planned,
        starts_at=starts_at,
        ends_at=ends_at,
        customers_affected=customers,
        alternate_starts_at=alternate,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageWrite:
    created: bool
    changed: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageRecord:
    """An outage as stored, with what its writes made of it."""

    outage_id: str
    status: OutageStatus
    cause: str | None
    crew_status: CrewStatus
    etr: datetime | None
    planned: bool
    starts_at: datetime | None
    ends_at: datetime | None
    premise_ids: tuple[str, ...]
    feeder_ids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    restored_at: datetime | None
    affected_premises: int | None
    history_entries: int | None
    # Customers (accounts) out: the OMS's figure when it sends one, else counted.
    customers_affected: int | None = None
    customers_from_oms: bool = False
    alternate_starts_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageReport:
    """What a caller reported: on the outage line, or answering a campaign call."""

    report_id: int
    kind: str
    premise_id: str | None
    account_number: str | None
    outage_id: str | None
    phone: str | None
    call_sid: str | None
    source: str
    created_at: datetime
    # The campaign call that heard it, for reports made answering one.
    campaign_id: int | None = None
    attempt_id: int | None = None
