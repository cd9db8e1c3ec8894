"""Customers' language tags and the prompt catalog each one hears.

A CIS writes `es-MX`, `es_MX`, `EN-us` or `es-419` as readily as `es`; a catalog is
written per language (`prompts/es.toml`). A tag hears its own catalog when one exists, else
the catalog of its base language, else the default.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")

DEFAULT_LANGUAGE = "en"
# language, then an optional script (`Hant`) and region (`MX`, or `419` for Latin America);
# `_` as POSIX locales write it.
_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?$")


@lru_cache(maxsize=256)
def language_tag(raw: str) -> str | None:
    """The tag in its usual spelling (`EN_us` -> `en-US`), or None when it is not one."""
    match = _TAG.match(raw)
    if match is None:
        return None
    language, script, region = match.groups()
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def catalog_language(tag: str | None, available: Collection[str]) -> str | None:
    """Which of `available` a customer with this tag hears: the tag itself, else its base
    language (`es-MX` -> `es`); None when neither has a catalog."""
    if not tag:
        return None
    if tag in available:
        return tag
    canonical = language_tag(tag.strip())
    if canonical is None:
        return None
    if canonical in available:
        return canonical
    base = canonical.split("-", 1)[0]
    return base if base in available else None


def pick_catalog(
    catalogs: Mapping[str, T], tag: str | None, *, default: str = DEFAULT_LANGUAGE
) -> T:
    """The catalog a customer hears: theirs, their base language's, or the default."""
    chosen = catalog_language(tag, catalogs.keys())
    return catalogs[chosen if chosen is not None else default]
