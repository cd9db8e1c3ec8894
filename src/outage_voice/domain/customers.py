"""Customer file rows: what a utility exports from its CIS, checked one row at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outage_voice.domain.languages import language_tag
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
MAX_FIELD_CHARS = 500


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
class ImportCounts:
    imported: int
    updated: int
    unchanged: int


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
    values: Sequence[str], *, line: int, defaults: CustomerDefaults
) -> CustomerRow | RowRejection:
    """One CSV row, its fields in CUSTOMER_CSV_COLUMNS order, checked and normalized.

    A rejection says why in words an operator can act on. This runs a million times per
    import, so it works on a plain tuple rather than a dict.
    """
    (
        account_number,
        name,
        raw_phone,
        raw_alt_phone,
        premise_id,
        service_address,
        feeder_id,
        timezone,
        language,
    ) = map(str.strip, values)
    if max(map(len, values)) > MAX_FIELD_CHARS:
        column = next(
            c for c, v in zip(CUSTOMER_CSV_COLUMNS, values, strict=True) if len(v) > MAX_FIELD_CHARS
        )
        return RowRejection(line=line, reason=f"{column} longer than {MAX_FIELD_CHARS} characters")
    if not (account_number and name and raw_phone and premise_id and service_address):
        missing = next(
            column
            for column, value in (
                ("account_number", account_number),
                ("name", name),
                ("phone", raw_phone),
                ("premise_id", premise_id),
                ("service_address", service_address),
            )
            if not value
        )
        return RowRejection(line=line, reason=f"missing {missing}")
    try:
        phone = normalize_phone(raw_phone, defaults.region)
        alt_phone = normalize_phone(raw_alt_phone, defaults.region) if raw_alt_phone else None
    except InvalidPhone as exc:
        return RowRejection(line=line, reason=str(exc))
    timezone = timezone or defaults.timezone
    if not is_known_timezone(timezone):
        return RowRejection(line=line, reason=f"unknown time zone {timezone!r}")
    tag = language_tag(language or defaults.language)  # `EN_us` is stored as `en-US`
    if tag is None:
        return RowRejection(
            line=line, reason=f"bad language {language!r} (expected e.g. 'en', 'es' or 'es-MX')"
        )
    return CustomerRow(
        line=line,
        account_number=account_number,
        name=name,
        phone=phone,
        alt_phone=alt_phone if alt_phone != phone else None,
        premise_id=premise_id,
        service_address=service_address,
        feeder_id=feeder_id or None,
        timezone=timezone,
        language=tag,
    )
