"""Prompt catalogs from `prompts/<language>.toml`, checked together when loaded."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from outage_voice.domain.prompts import Catalog, CatalogError, validate_catalogs
from outage_voice.resources import resource_dir


def _strings(table: object, name: str, source: str) -> dict[str, str]:
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise CatalogError(f"{source} [{name}]", "must be a table of strings")
    return {str(key): value for key, value in table.items()}


def _flag(value: object, source: str) -> bool:
    if not isinstance(value, bool):
        raise CatalogError(f"{source} speak_unknown_causes", "must be true or false")
    return value


def load_catalogs(folder: Path | None = None) -> Mapping[str, Catalog]:
    folder = folder or resource_dir("prompts")
    catalogs: dict[str, Catalog] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(path.name, f"not valid TOML ({exc})") from None
        language = data.get("language")
        if language != path.stem:
            raise CatalogError(path.name, f"says language = {language!r}; expected {path.stem!r}")
        tts_language = data.get("tts_language")
        if not isinstance(tts_language, str) or not tts_language:
            raise CatalogError(path.name, "needs tts_language, e.g. 'en-US'")
        catalogs[language] = Catalog(
            language=language,
            tts_language=tts_language,
            messages=_strings(data.get("messages"), "messages", path.name),
            fragments=_strings(data.get("fragments"), "fragments", path.name),
            causes={
                k.lower(): v
                for k, v in _strings(data.get("causes", {}), "causes", path.name).items()
            },
            speak_unknown_causes=_flag(data.get("speak_unknown_causes", False), path.name),
        )
    validate_catalogs(catalogs)
    return catalogs
