"""Named SQL blocks from `sql/queries/*.sql`, loaded once.

A block starts with a line `-- name: some_name` and runs to the next such line.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from outage_voice.resources import resource_dir

_NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class QueryFileError(Exception):
    pass


def parse_named_blocks(text: str, *, source: str) -> dict[str, str]:
    blocks: dict[str, str] = {}
    matches = list(_NAME_LINE.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip()
        name = match.group("name")
        if not body:
            raise QueryFileError(f"{source}: query {name!r} is empty")
        if name in blocks:
            raise QueryFileError(f"{source}: query {name!r} is defined twice")
        blocks[name] = body
    return blocks


def load_queries(folder: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted(folder.glob("*.sql")):
        for name, body in parse_named_blocks(
            path.read_text(encoding="utf-8"), source=path.name
        ).items():
            if name in queries:
                raise QueryFileError(
                    f"{path.name}: query {name!r} is already defined in another file"
                )
            queries[name] = body
    return queries


@cache
def queries() -> dict[str, str]:
    return load_queries(resource_dir("sql") / "queries")


def q(name: str) -> str:
    """The SQL of one named block; a typo fails loudly at first use, in tests."""
    try:
        return queries()[name]
    except KeyError:
        raise QueryFileError(f"no query named {name!r} in sql/queries") from None
