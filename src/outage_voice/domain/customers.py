"""Customer file rows: what a utility exports from its CIS, checked one row at a time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outage_voice.domain.phones import InvalidPhone, normalize_phone

CUSTOMER_CSV_COLUMNS: tuple[str, ...] = (
    "account_number",
    "name",
    "phone",
    "alt_phone",
    "premise_id",
    "service_address",
    "feeder_id",
    "timezone",
    "language",
)
REQUIRED_VALUES: tuple[str, ...] = (
    "account_number",
    "name",
    "phone",
    "premise_id",
    "service_address",
)
MAX_FIELD_CHARS = 500
_LANGUAGE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")


@dataclass(frozen=True, kw_only=True, slots=True)
class CustomerDefaults:
    timezone: str
    language: str
    region: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CustomerRow:
    line: int
    account_number: str
    name: str
    phone: str
    alt_phone: str | None
    premise_id: str
    service_address: str
    feeder_id: str | None
    timezone: str
    language: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RowRejection:
    line: int
    reason: str


@lru_cache(maxsize=1024)
def is_known_timezone(name: str) -> bool:
    if not name or name != name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def missing_columns(header: list[str]) -> list[str]:
    present = {column.strip().lower() for column in header}
    return [column for column in CUSTOMER_CSV_COLUMNS if column not in present]


def parse_customer_row(
    values: Mapping[str, str | None], *, line: int, defaults: CustomerDefaults
) -> CustomerRow | RowRejection:
    """One CSV row, checked and normalized; a rejection says why in words an operator can act on."""
    cleaned: dict[str, str] = {}
    for column in CUSTOMER_CSV_COLUMNS:
        value = (values.get(column) or "").strip()
        if len(value) > MAX_FIELD_CHARS:
            return RowRejection(
                line=line, reason=f"{column} longer than {MAX_FIELD_CHARS} characters"
            )
        cleaned[column] = value
    for column in REQUIRED_VALUES:
        if not cleaned[column]:
            return RowRejection(line=line, reason=f"missing {column}")
    try:
        phone = normalize_phone(cleaned["phone"], defaults.region)
        alt_phone = (
            normalize_phone(cleaned["alt_phone"], defaults.region) if cleaned["alt_phone"] else None
        )
    except InvalidPhone as exc:
        return RowRejection(line=line, reason=str(exc))
    timezone = cleaned["timezone"] or defaults.timezone
    if not is_known_timezone(timezone):
        return RowRejection(line=line, reason=f"unknown time zone {timezone!r}")
    language = cleaned["language"] or defaults.language
    if not _LANGUAGE.match(language):
        return RowRejection(
            line=line, reason=f"bad language {language!r} (expected e.g. 'en' or 'es')"
        )
    return CustomerRow(
        line=line,
        account_number=cleaned["account_number"],
        name=cleaned["name"],
        phone=phone,
        alt_phone=alt_phone if alt_phone != phone else None,
        premise_id=cleaned["premise_id"],
        service_address=cleaned["service_address"],
        feeder_id=cleaned["feeder_id"] or None,
        timezone=timezone,
        language=language,
    )
