from __future__ import annotations

from pathlib import Path

import pytest

from outage_voice.adapters.db.queries import QueryFileError, parse_named_blocks, q, queries

SOURCE = Path(__file__).resolve().parents[2] / "src"


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


def test_every_named_query_is_used() -> None:
    """A query no code names is either dead or a feature left unwired (call-back requests
    were never closed while theirs sat unused)."""
    source = "\n".join(path.read_text() for path in SOURCE.rglob("*.py"))
    unused = sorted(name for name in queries() if f'"{name}"' not in source)
    assert unused == []
