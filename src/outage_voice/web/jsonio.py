"""JSON in and out of the API, with one error shape everywhere."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from aiohttp import web

from outage_voice.domain.errors import InvalidField

# No API document nests deeper than a handful of levels; the limit keeps the JSON parser's
# recursion (and ours) far from Python's stack limit whatever a client sends.
MAX_JSON_DEPTH = 32
# Query integers end up as PostgreSQL bigints.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")
# PostgreSQL text can't hold NUL, and UTF-8 can't hold a lone surrogate (JSON's "\ud800").
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def json_response(value: Any, *, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=dumps)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    response = web.json_response({"error": error}, status=status, dumps=dumps)
    if headers:
        response.headers.update(headers)
    return response


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the brackets in `raw` (outside strings) nest deeper than `limit`, found
    without parsing, so a hostile body never reaches a recursive parser."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", raw)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]}... is out of range")
    return value


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _check_text(value: object, path: str) -> None:
    """Every string (keys too) must be storable; the first one that isn't names its field."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise InvalidField(path, "contains a NUL character or an unpaired surrogate")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path != "body" else key
            if _UNSTORABLE.search(key):
                raise InvalidField(path, "has a key with a NUL character or an unpaired surrogate")
            _check_text(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{path}[{index}]")


async def read_json(request: web.Request) -> object:
    """The request's JSON body: 400 when nested deeper than MAX_JSON_DEPTH, 422 (field
    "body", or the field holding it) when it is not JSON, has NaN, Infinity or a number no
    double holds, or a string PostgreSQL can't store."""
    raw = await request.read()
    if json_depth_exceeds(raw):
        raise web.HTTPBadRequest(text=f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(raw, parse_float=_finite, parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidField("body", f"is not valid JSON ({exc})") from None
    except (ValueError, RecursionError) as exc:
        # ValueError: an integer of thousands of digits, NaN or Infinity.
        raise InvalidField("body", f"is not valid JSON ({exc})") from None
    _check_text(value, "body")
    return value


def query_int(
    request: web.Request, name: str, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX
) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    # int() alone would take "1_000", " 7" and other scripts' digits.
    text = raw.removeprefix("-")
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise InvalidField(name, "must be a whole number")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise InvalidField(name, f"must be from {minimum} to {maximum}")
    return value


def query_bool(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidField(name, "must be true or false")
