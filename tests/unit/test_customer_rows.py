from __future__ import annotations

import pytest

from outage_voice.domain.customers import (
    CUSTOMER_CSV_COLUMNS,
    CustomerDefaults,
    CustomerRow,
    RowRejection,
    missing_columns,
    parse_customer_row,
)

DEFAULTS = CustomerDefaults(timezone="America/Chicago", language="en", region="US")
GOOD = {
    "account_number": "1001",
    "name": "Maria Garcia",
    "phone": "(512) 555-0100",
    "alt_phone": "",
    "premise_id": "P1",
    "service_address": "12 Oak Street",
    "feeder_id": "",
    "timezone": "",
    "language": "",
}


def parse(**changes: str) -> CustomerRow | RowRejection:
    values = GOOD | changes
    return parse_customer_row(
        [values[column] for column in CUSTOMER_CSV_COLUMNS], line=7, defaults=DEFAULTS
    )


def test_good_row_gets_defaults_and_e164() -> None:
    row = parse()
    assert isinstance(row, CustomerRow)
    assert row.phone == "+15125550100"
    assert row.timezone == "America/Chicago"
    assert row.language == "en"
    assert row.feeder_id is None
    assert row.alt_phone is None


def test_alt_phone_equal_to_phone_is_dropped() -> None:
    row = parse(alt_phone="512-555-0100")
    assert isinstance(row, CustomerRow)
    assert row.alt_phone is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"account_number": " "}, "missing account_number"),
        ({"premise_id": ""}, "missing premise_id"),
        ({"phone": "12"}, "unparseable phone"),
        ({"phone": ""}, "missing phone"),
        ({"alt_phone": "abc"}, "unparseable phone"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"timezone": "../../etc/passwd"}, "unknown time zone"),
        ({"language": "english"}, "bad language"),
        ({"name": "x" * 501}, "longer than"),
    ],
)
def test_bad_rows_say_why(changes: dict[str, str], reason: str) -> None:
    rejection = parse(**changes)
    assert isinstance(rejection, RowRejection)
    assert rejection.line == 7
    assert reason in rejection.reason


def test_missing_header_columns() -> None:
    assert missing_columns(["account_number", "name"])[:2] == ["phone", "alt_phone"]
    assert missing_columns(list(GOOD)) == []


@pytest.mark.parametrize(
    ("written", "stored"), [("EN-us", "en-US"), ("es_MX", "es-MX"), ("es-419", "es-419")]
)
def test_language_tags_are_stored_in_their_usual_spelling(written: str, stored: str) -> None:
    row = parse(language=written)
    assert isinstance(row, CustomerRow)
    assert row.language == stored
