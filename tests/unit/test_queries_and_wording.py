from __future__ import annotations

from datetime import UTC, datetime

import pytest

from outage_voice.adapters.db.queries import QueryFileError, parse_named_blocks, q, queries
from outage_voice.domain.wording import clock_phrase

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # Monday, noon in Chicago


def test_named_blocks() -> None:
    blocks = parse_named_blocks("-- name: a\nSELECT 1;\n\n-- name: b\nSELECT 2;\n", source="x.sql")
    assert blocks == {"a": "SELECT 1;", "b": "SELECT 2;"}


@pytest.mark.parametrize(
    "text", ["-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;", "-- name: a\n\n-- name: b\nSELECT 1;"]
)
def test_bad_query_files_are_refused(text: str) -> None:
    with pytest.raises(QueryFileError):
        parse_named_blocks(text, source="x.sql")


def test_project_queries_load_and_unknown_names_fail() -> None:
    assert "status_lookup" in queries()
    with pytest.raises(QueryFileError):
        q("no_such_query")


@pytest.mark.parametrize(
    ("etr", "expected"),
    [
        (datetime(2026, 11, 23, 22, 30, tzinfo=UTC), "4:30 PM today"),
        (datetime(2026, 11, 24, 13, 0, tzinfo=UTC), "7 AM tomorrow"),
        (datetime(2026, 11, 24, 18, 0, tzinfo=UTC), "noon tomorrow"),
        (datetime(2026, 11, 24, 6, 0, tzinfo=UTC), "midnight tomorrow"),
        (datetime(2026, 11, 26, 18, 0, tzinfo=UTC), "Thursday at noon"),
        (datetime(2026, 12, 3, 15, 15, tzinfo=UTC), "December 3 at 9:15 AM"),
    ],
)
def test_clock_phrases_in_customer_time(etr: datetime, expected: str) -> None:
    assert clock_phrase(etr, now=NOW, timezone="America/Chicago") == expected
