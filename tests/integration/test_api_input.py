"""The JSON API refuses what it does not understand with a 4xx in the one error shape, changes
nothing when it refuses, and never answers 5xx, whatever a client sends."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.web.jsonio import MAX_JSON_DEPTH, json_depth_exceeds
from tests.support import T0, csv_text

Client = TestClient[web.Request, web.Application]
Headers = dict[Role, dict[str, str]]

ETR = (T0 + timedelta(hours=4)).isoformat()
OUTAGE: dict[str, Any] = {"status": "confirmed", "cause": "storm", "etr": ETR, "feeder_ids": ["F1"]}
CAMPAIGN: dict[str, Any] = {
    "name": "Storm 1 acknowledged",
    "kind": "outage_ack",
    "audience": {"outage_id": "S1", "callback_requests": False},
    "pacing": {"cps": 5, "max_concurrent": 50},
    "window": "08:00-21:00",
    "urgent": False,
    "retry": {"busy": {"max_attempts": 3, "delay_s": 300}},
    "voicemail": "message",
    "priority": 0,
    "starts_at": None,
}
CUSTOM: dict[str, Any] = {
    "name": "Crews tonight",
    "kind": "custom",
    "audience": {"accounts": ["1001"]},
    "message": {"text": "Crews are working on your street tonight."},
}
PATCH: dict[str, Any] = {"cps": 2, "max_concurrent": 10, "window": "09:00-20:00", "priority": 5}
CUSTOMERS = csv_text(
    "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
    "1002,James Smith,512-555-0101,,P2,14 Oak Street,F1,,es",
)


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error


async def snapshot(pool: asyncpg.Pool) -> dict[str, str]:
    """Every table's rows, hashed: equal snapshots mean nothing was written."""
    tables = await pool.fetch(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    parts = [
        f"SELECT '{row['table_name']}', coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)),"
        f" '') FROM {row['table_name']} t"
        for row in tables
    ]
    return dict(await pool.fetch(" UNION ALL ".join(parts)))


async def seed(api: Client, tokens: Headers, services: Services) -> int:
    """Customers, the outage S1 and a draft campaign about it; returns the campaign's id."""
    report = await services.customers.import_stream(io.StringIO(CUSTOMERS))
    assert report.rejections == []
    put = await api.put("/api/v1/outages/S1", json=OUTAGE, headers=tokens[Role.OMS])
    assert put.status == 201, await put.text()
    created = await api.post("/api/v1/campaigns", json=CAMPAIGN, headers=tokens[Role.SUPERVISOR])
    assert created.status == 201, await created.text()
    campaign_id: int = (await created.json())["id"]
    # Each token's first use is recorded (once a minute, and the test clock stands still).
    for headers in tokens.values():
        assert (await api.get("/api/v1/outages", headers=headers)).status == 200
    return campaign_id


# ---- the cases found by hand ---------------------------------------------------------------


def test_depth_is_found_without_parsing_and_strings_do_not_count() -> None:
    assert not json_depth_exceeds(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert json_depth_exceeds(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert json_depth_exceeds(b"[" * 100_000)  # unclosed: still refused before parsing
    brackets_in_text = json.dumps({"name": "[{" * 500, "quote": '\\"[[[[' * 50}).encode()
    assert not json_depth_exceeds(brackets_in_text)
    wide = json.dumps([[1]] * 10_000).encode()  # many brackets, shallow
    assert not json_depth_exceeds(wide)


async def test_deep_json_is_400_on_every_json_route_and_changes_nothing(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool
) -> None:
    campaign_id = await seed(api, tokens, services)
    before = await snapshot(pool)
    deep = "[" * 1000 + "]" * 1000
    for method, path, role in (
        ("PUT", "/api/v1/outages/S1", Role.OMS),
        ("POST", "/api/v1/campaigns", Role.SUPERVISOR),
        ("PATCH", f"/api/v1/campaigns/{campaign_id}", Role.SUPERVISOR),
    ):
        for body in (deep, '{"cause": {"a": [[{"b": [[[' + deep + "]]]}]]}}", "{" * 50_000):
            answer = await api.request(method, path, data=body, headers=tokens[role])
            error = await error_of(answer, 400)
            assert "32" in error["message"]
        # One level short of the limit is parsed, and refused for what it says.
        just_under = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
        answer = await api.request(method, path, data=just_under, headers=tokens[role])
        assert (await error_of(answer, 422))["field"] == "body"
    assert await snapshot(pool) == before


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z"]
)
async def test_dates_outside_1970_to_2200_are_422_naming_the_field(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool, value: str
) -> None:
    await seed(api, tokens, services)
    before = await snapshot(pool)
    oms, supervisor = tokens[Role.OMS], tokens[Role.SUPERVISOR]
    for field in ("etr", "starts_at", "ends_at"):
        answer = await api.put("/api/v1/outages/S1", json=OUTAGE | {field: value}, headers=oms)
        error = await error_of(answer, 422)
        assert error["field"] == field and "1970" in error["message"]
    answer = await api.post(
        "/api/v1/campaigns", json=CAMPAIGN | {"starts_at": value}, headers=supervisor
    )
    assert (await error_of(answer, 422))["field"] == "starts_at"
    for path, name in (
        ("/api/v1/outage-reports", "since"),
        ("/api/v1/reports/inbound-calls", "since"),
        ("/api/v1/reports/inbound-calls", "until"),
    ):
        answer = await api.get(path, params={name: value}, headers=oms)
        assert (await error_of(answer, 422))["field"] == name
    assert await snapshot(pool) == before


async def test_query_integers_beyond_int64_are_422(api: Client, tokens: Headers) -> None:
    viewer = tokens[Role.VIEWER]
    for path, name, value in (
        ("/api/v1/outage-reports", "after_id", "99999999999999999999"),
        ("/api/v1/outage-reports", "after_id", "9223372036854775808"),
        ("/api/v1/outage-reports", "after_id", "9" * 5000),
        ("/api/v1/outage-reports", "after_id", "-1"),
        ("/api/v1/outage-reports", "after_id", "1_000"),
        ("/api/v1/outage-reports", "after_id", "\u0661\u0662"),  # Arabic-Indic digits
        ("/api/v1/outage-reports", "limit", "-99999999999999999999"),
        ("/api/v1/outages", "limit", "99999999999999999999"),
    ):
        answer = await api.get(path, params={name: value}, headers=viewer)
        assert (await error_of(answer, 422))["field"] == name, value
    answer = await api.get(
        "/api/v1/outage-reports", params={"after_id": str(2**63 - 1)}, headers=viewer
    )
    assert answer.status == 200
    assert (await answer.json())["next_after_id"] == 2**63 - 1
    for odd in ("\u00b2", "\u0661", "99999999999999999999"):
        await error_of(await api.get(f"/api/v1/campaigns/{quote(odd)}", headers=viewer), 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"audience": {"outage_id": "S1", "callback_request": True}}, "audience.callback_request"),
        ({"pacing": {"cps": 5, "window": "08:00-21:00"}}, "pacing.window"),
        ({"retry": {"busy": {"max_attempts": 2, "delay": 60}}}, "retry.busy.delay"),
        ({"message": {"key": "restored"}}, "message.key"),
        ({"aduience": {"outage_id": "S1"}}, "aduience"),
    ],
)
async def test_unknown_campaign_fields_at_every_level_are_422_naming_the_field(
    api: Client,
    tokens: Headers,
    services: Services,
    pool: asyncpg.Pool,
    change: dict[str, Any],
    field: str,
) -> None:
    await seed(api, tokens, services)
    before = await snapshot(pool)
    answer = await api.post(
        "/api/v1/campaigns", json=CAMPAIGN | change, headers=tokens[Role.SUPERVISOR]
    )
    error = await error_of(answer, 422)
    assert error["field"] == field
    assert "unknown field" in error["message"]
    assert await snapshot(pool) == before


async def test_unknown_patch_fields_are_422_and_force_is_accepted_on_create(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool
) -> None:
    campaign_id = await seed(api, tokens, services)
    supervisor = tokens[Role.SUPERVISOR]
    before = await snapshot(pool)
    for body, field in (
        ({"cps": 2, "max_concurent": 10}, "max_concurent"),
        ({"pacing": {"cps": 2}}, "pacing"),
    ):
        answer = await api.patch(f"/api/v1/campaigns/{campaign_id}", json=body, headers=supervisor)
        assert (await error_of(answer, 422))["field"] == field
    answer = await api.post("/api/v1/campaigns", json=CUSTOM | {"force": "yes"}, headers=supervisor)
    assert (await error_of(answer, 422))["field"] == "force"
    assert await snapshot(pool) == before
    for force in (True, False):
        answer = await api.post(
            "/api/v1/campaigns", json=CUSTOM | {"force": force}, headers=supervisor
        )
        assert answer.status == 201, await answer.text()


@pytest.mark.parametrize("cps", ["1" + "0" * 400, "5e-324", "0.001", "1e308"])
async def test_campaign_pacing_out_of_range_is_422_not_an_overflow(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool, cps: str
) -> None:
    campaign_id = await seed(api, tokens, services)
    supervisor = tokens[Role.SUPERVISOR]
    before = await snapshot(pool)
    body = json.dumps(CUSTOM | {"pacing": {"cps": 0}}).replace('"cps": 0', f'"cps": {cps}')
    answer = await api.post("/api/v1/campaigns", data=body, headers=supervisor)
    assert (await error_of(answer, 422))["field"] == "cps"
    patch = f'{{"cps": {cps}}}'
    answer = await api.patch(f"/api/v1/campaigns/{campaign_id}", data=patch, headers=supervisor)
    assert (await error_of(answer, 422))["field"] == "cps"
    assert await snapshot(pool) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"status": "confirmed", "cause": "st\\u0000orm", "feeder_ids": ["F1"]}', "cause"),
        ('{"status": "confirmed", "feeder_ids": ["F1", "F\\ud800"]}', "feeder_ids[1]"),
        ('{"status": "confirmed", "feeder_ids": ["F1"], "x\\u0000": 1}', "body"),
        ('{"status": "confirmed", "etr": NaN, "feeder_ids": ["F1"]}', "body"),
        ('{"status": "confirmed", "etr": 1e999, "feeder_ids": ["F1"]}', "body"),
        ('{"status": "confirmed", "etr": 1' + "0" * 5000 + ', "feeder_ids": ["F1"]}', "body"),
    ],
)
async def test_text_postgresql_cannot_store_and_numbers_json_cannot_hold_are_422(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool, body: str, field: str
) -> None:
    await seed(api, tokens, services)
    before = await snapshot(pool)
    answer = await api.put("/api/v1/outages/S9", data=body, headers=tokens[Role.OMS])
    assert (await error_of(answer, 422))["field"] == field
    assert await snapshot(pool) == before


# ---- every route, generated input ----------------------------------------------------------

# Bounded for CI (the whole property takes about 20 s on 2 busy cores) and derandomized, so
# a run never flakes: routes that take a body get more, their inputs reach further.
EXAMPLES_WITH_BODY = 150
EXAMPLES_WITHOUT_BODY = 40
QUERY_NAMES = (
    "limit",
    "after_id",
    "since",
    "until",
    "active",
    "fresh",
    "outage_id",
    "survey",
    "open",
    "x",
)
# Any code point, surrogates and NUL included, and the ones that broke things by hand.
SPECIAL_TEXT = st.sampled_from(
    ["\x00", "S1\x00", "\ud800", "F\udfff1", "\u202e1001", "\U0001f329", "\ufeff", "x" * 300]
)
ODD_TEXT = st.text(st.characters(exclude_categories=()), max_size=12) | SPECIAL_TEXT
# Bodies only: a URL over 8 KiB is refused by the HTTP parser before the application sees it.
BODY_TEXT = ODD_TEXT | st.just("x" * 100_000)
BEYOND_INT64 = st.sampled_from([2**63, -(2**63) - 1, 10**20, -(10**30), 2**64, 10**400])
HUGE_INTEGERS = BEYOND_INT64 | st.sampled_from([0, -1, 1, 2**63 - 1]) | st.integers()
DATES = st.sampled_from(
    [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "2026-11-23T18:00:00+00:00",
        "2026-11-24T18:00:00-06:00",
        "2026-11-23",
        "2026-13-45T99:99:99Z",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | HUGE_INTEGERS
    | st.floats()  # NaN and infinities too: json.dumps writes them as NaN / Infinity
    | BODY_TEXT
    | DATES
    | st.sampled_from(["S1", "F1", "1001", "custom", "restoration", "busy", "08:00-21:00", ""])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            ODD_TEXT | st.sampled_from(list(CAMPAIGN) + list(OUTAGE)), inner, max_size=4
        )
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replacement(original: Any) -> st.SearchStrategy[Any]:
    """Mostly a value of the same kind at its extremes (text no database stores, numbers past
    int64 or a double, dates past any calendar), sometimes anything at all."""
    if isinstance(original, bool) or original is None:
        return SCALARS | JSON_VALUES
    if isinstance(original, int | float):
        extremes = BEYOND_INT64 | st.floats() | st.sampled_from([5e-324, 1e308, -0.0, 0.001])
        return st.one_of(extremes, extremes, HUGE_INTEGERS, JSON_VALUES)
    if isinstance(original, str):
        return st.one_of(SPECIAL_TEXT, DATES, ODD_TEXT, JSON_VALUES)
    if isinstance(original, list):
        return st.one_of(st.lists(SPECIAL_TEXT | ODD_TEXT, min_size=1, max_size=3), JSON_VALUES)
    return JSON_VALUES


@st.composite
def near_valid(draw: st.DrawFn, templates: list[dict[str, Any]]) -> Any:
    """A documented body with one part replaced, removed or joined by an unknown key: the
    inputs that get past the first checks and reach the deeper ones."""
    document = json.loads(json.dumps(draw(st.sampled_from(templates))))
    action = draw(st.sampled_from(["replace", "replace", "replace", "remove", "add", "keep"]))
    if action == "keep":
        return document
    path = draw(st.sampled_from(_paths(document)[1:]))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if action == "remove":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[draw(ODD_TEXT)] = draw(JSON_VALUES)
    else:
        parent[path[-1]] = draw(_replacement(parent[path[-1]]))
    return document


def _dumps(value: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as its \\udXXX escape, as a client's JSON would.
    return json.dumps(value, ensure_ascii=True).encode()


DEPTHS = st.sampled_from([MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 1000, 20_000])
ODD_BODIES = st.one_of(
    JSON_VALUES.map(_dumps),
    DEPTHS.map(lambda n: b"[" * n + b"]" * n),
    DEPTHS.map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.binary(max_size=40),
    st.just(b""),
)
PATH_VALUES = (
    ODD_TEXT.filter(lambda text: text not in ("", ".", ".."))
    | HUGE_INTEGERS.map(str)
    | st.sampled_from(["\u00b2", "\u0661", "S1\n", "%00", "a/b", " 1", "-1", "0"])
)
GOOD_PATH_VALUES = {
    "{campaign_id}": st.sampled_from(["1", "2", "999"]),
    "{outage_id}": st.sampled_from(["S1", "S2"]),
    "{action}": st.sampled_from(["start", "pause", "resume", "cancel", "stop"]),
}
QUERY_VALUES = st.one_of(
    BEYOND_INT64.map(str),
    DATES,
    HUGE_INTEGERS.map(str),
    ODD_TEXT,
    st.sampled_from(["true", "1", "no"]),
)


def _bodies(method: str, template: str) -> st.SearchStrategy[bytes]:
    """Bodies near the documents a route takes (when it takes one), and odd ones."""
    documents = [OUTAGE, CAMPAIGN, CUSTOM, PATCH]
    if method == "PUT" and template.startswith("/api/v1/outages/"):
        documents = [OUTAGE]
    elif method == "POST" and template == "/api/v1/campaigns":
        documents = [CAMPAIGN, CUSTOM]
    elif method == "PATCH" and template.startswith("/api/v1/campaigns/"):
        documents = [PATCH]
    elif method == "POST" and template == "/api/v1/surveys/send":
        documents = [SURVEY_SEND]
    elif method == "PUT" and template.startswith("/api/v1/surveys/"):
        documents = [SURVEY_DEFINITION]
    near = near_valid(documents).map(_dumps)
    return st.one_of(near, near, near, ODD_BODIES)


def _role(template: str) -> st.SearchStrategy[Role | None]:
    """Mostly the role that may write the resource, sometimes another or none."""
    writer = Role.OMS if template.startswith("/api/v1/outage") else Role.SUPERVISOR
    return st.sampled_from([writer] * 5 + [None, Role.OMS, Role.SUPERVISOR, Role.VIEWER])


def _encode(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def api_routes(app: web.Application) -> list[tuple[str, str]]:
    """Every JSON API route the application serves, read from its router."""
    found = set()
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource is not None else ""
        if canonical.startswith("/api/v1/") and route.method != "HEAD":
            found.add((route.method, canonical))
    return sorted(found)


@st.composite
def _path(draw: st.DrawFn, template: str) -> str:
    parts = []
    for part in template.split("/"):
        if part.startswith("{") and part.endswith("}"):
            good = GOOD_PATH_VALUES.get(part, PATH_VALUES)
            part = _encode(draw(st.one_of(good, good, PATH_VALUES)))
        parts.append(part)
    return "/".join(parts)


class Prober:
    """Sends one request and holds the server to the rules: never 5xx, every error in the one
    shape, and a refusal leaves every table as the previous request left it."""

    def __init__(self, api: Client, tokens: Headers, pool: asyncpg.Pool) -> None:
        self.api, self.tokens, self.pool = api, tokens, pool
        self.root = str(api.make_url("/")).rstrip("/")
        self.seen: dict[int, int] = {}
        self.last: dict[str, str] = {}

    async def start(self) -> None:
        self.last = await snapshot(self.pool)

    async def check(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: bytes,
        role: Role | None,
    ) -> int:
        encoded = urlencode(query, encoding="utf-8", errors="surrogatepass")
        url = URL(self.root + path + ("?" + encoded if encoded else ""), encoded=True)
        headers = {"Content-Type": "application/json"}
        if role is not None:
            headers |= self.tokens[role]
        # A file-like body: aiohttp warns about (and pytest fails on) bytes over 1 MiB.
        payload = io.BytesIO(body)
        async with self.api.session.request(method, url, data=payload, headers=headers) as response:
            status, raw = response.status, await response.read()
        self.seen[status] = self.seen.get(status, 0) + 1
        before, self.last = self.last, await snapshot(self.pool)
        where = (method, path, query, body[:200], raw[:500])
        assert status < 500, where
        if status >= 400:
            document = json.loads(raw)
            assert set(document) == {"error"}, where
            error = document["error"]
            assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str)
            assert set(error) <= {"code", "message", "field"}, where
            assert self.last == before, where
        return status


async def test_every_api_route_answers_4xx_in_one_shape_and_changes_nothing_on_refusal(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool
) -> None:
    await seed(api, tokens, services)
    routes = api_routes(api.app)
    assert ("PATCH", "/api/v1/campaigns/{campaign_id}") in routes and len(routes) >= 8
    loop = asyncio.get_running_loop()
    prober = Prober(api, tokens, pool)
    await prober.start()

    def one_route(method: str, template: str) -> None:
        @settings(
            max_examples=EXAMPLES_WITHOUT_BODY if method == "GET" else EXAMPLES_WITH_BODY,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            path=_path(template),
            query=st.lists(st.tuples(st.sampled_from(QUERY_NAMES), QUERY_VALUES), max_size=3),
            body=_bodies(method, template),
            role=_role(template),
        )
        def check(path: str, query: list[tuple[str, str]], body: bytes, role: Role | None) -> None:
            future = asyncio.run_coroutine_threadsafe(
                prober.check(method, path, query, body, role), loop
            )
            future.result(timeout=60)

        check()

    for method, template in routes:
        await asyncio.to_thread(one_route, method, template)
    # The generated inputs reach past the first checks: some are accepted, most refused.
    seen = prober.seen
    assert any(200 <= status < 300 for status in seen), seen
    assert {400, 401, 403, 404, 422} <= set(seen), seen


EXTREMES: list[Any] = [
    10**400,
    2**63,
    -(2**63) - 1,
    5e-324,
    1e308,
    -1,
    "\x00",
    "\ud800",
    "9999-12-31T23:59:59-14:00",
    "x" * 100_000,
    None,
    True,
    [],
    {},
]


async def test_every_field_of_every_documented_body_at_its_extremes(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool
) -> None:
    """Each part of each documented body replaced in turn by each extreme value: the sweep
    a random search may miss (an integer of 400 digits where `cps` goes, say)."""
    campaign_id = await seed(api, tokens, services)
    prober = Prober(api, tokens, pool)
    await prober.start()
    for method, path, role, documents in (
        ("PUT", "/api/v1/outages/S1", Role.OMS, [OUTAGE]),
        ("POST", "/api/v1/campaigns", Role.SUPERVISOR, [CAMPAIGN, CUSTOM]),
        ("PATCH", f"/api/v1/campaigns/{campaign_id}", Role.SUPERVISOR, [PATCH]),
    ):
        for document in documents:
            for where in _paths(document)[1:]:
                for extreme in EXTREMES:
                    changed = json.loads(json.dumps(document))
                    parent = changed
                    for step in where[:-1]:
                        parent = parent[step]
                    parent[where[-1]] = extreme
                    await prober.check(method, path, [], _dumps(changed), role)
    odd = ["1" + "0" * 400, str(2**63), "-1", " 1", "1e5", "\u00b2", "\x00", "\ud800", "S1\n"]
    odd += ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "x" * 2000, ""]
    for path in (
        "/api/v1/outages",
        "/api/v1/outage-reports",
        "/api/v1/reports/inbound-calls",
        f"/api/v1/campaigns/{campaign_id}",
    ):
        for name in ("limit", "after_id", "since", "until", "active", "fresh"):
            for value in odd:
                await prober.check("GET", path, [(name, value)], b"", Role.VIEWER)
    for template in ("/api/v1/outages/{}", "/api/v1/campaigns/{}", "/api/v1/campaigns/{}/start"):
        for value in odd:
            method = "POST" if template.endswith("start") else "GET"
            path = template.format(_encode(value) or "%20")
            await prober.check(method, path, [], b"", Role.SUPERVISOR)
    assert 422 in prober.seen and any(200 <= status < 300 for status in prober.seen)


# ---- the survey routes -----------------------------------------------------------------------

SURVEY_SEND: dict[str, Any] = {
    "outage_id": "S1",
    "survey": "post_outage",
    "name": "Storm 1 survey",
    "cps": 2,
    "max_concurrent": 5,
    "window": "08:00-21:00",
    "priority": 0,
    "starts_at": None,
}
SURVEY_DEFINITION: dict[str, Any] = {
    "name": "Short",
    "questions": [
        {"key": "informed", "prompt": "survey_informed", "kind": "scale_1_5"},
        {"key": "call_me", "prompt": "survey_callback", "kind": "yes_no", "callback_on_yes": True},
    ],
    "closing_comment": True,
    "comment_cap_s": 30,
}
ODD_TEXT_VALUES = ["\x00", "S1\x00", "\ud800", "F\udfff1", "x" * 2000, "", " 1", "S1\n"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/surveys/comments", "outage_id"),
        ("/api/v1/surveys/comments", "survey"),
        ("/api/v1/surveys/post_outage/results", "outage_id"),
    ],
)
@pytest.mark.parametrize("value", ["\x00", "S1\x00", "\ud800", "x" * 300])
async def test_survey_filters_postgresql_cannot_store_are_422_naming_the_filter(
    api: Client, tokens: Headers, path: str, name: str, value: str
) -> None:
    query = urlencode([(name, value)], encoding="utf-8", errors="surrogatepass")
    url = URL(str(api.make_url(path)) + "?" + query, encoded=True)
    async with api.session.get(url, headers=tokens[Role.SUPERVISOR]) as answer:
        assert (await error_of(answer, 422))["field"] == name


async def test_every_survey_route_at_its_extremes_is_never_a_5xx(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool
) -> None:
    """Each field of the survey bodies, each filter and each part of each survey URL, in
    turn, replaced by text no database stores, numbers past int64 and the like."""
    await seed(api, tokens, services)
    prober = Prober(api, tokens, pool)
    await prober.start()
    for method, path, document in (
        ("POST", "/api/v1/surveys/send", SURVEY_SEND),
        ("PUT", "/api/v1/surveys/short", SURVEY_DEFINITION),
    ):
        for where in _paths(document)[1:]:
            for extreme in EXTREMES:
                changed = json.loads(json.dumps(document))
                parent = changed
                for step in where[:-1]:
                    parent = parent[step]
                parent[where[-1]] = extreme
                await prober.check(method, path, [], _dumps(changed), Role.SUPERVISOR)
    odd = [*ODD_TEXT_VALUES, "1" + "0" * 400, str(2**63), "-1", "\u00b2"]
    for path in (
        "/api/v1/surveys",
        "/api/v1/surveys/comments",
        "/api/v1/surveys/callbacks",
        "/api/v1/surveys/post_outage/results",
    ):
        for name in ("outage_id", "survey", "open", "limit"):
            for value in odd:
                await prober.check("GET", path, [(name, value)], b"", Role.SUPERVISOR)
    for method, template in (
        ("GET", "/api/v1/surveys/{}"),
        ("PUT", "/api/v1/surveys/{}"),
        ("GET", "/api/v1/surveys/{}/results"),
        ("GET", "/api/v1/surveys/comments/{}/informed"),
        ("GET", "/api/v1/surveys/comments/1/{}"),
        ("POST", "/api/v1/surveys/callbacks/{}/handled"),
    ):
        for value in odd:
            path = template.format(_encode(value) or "%20")
            body = _dumps(SURVEY_DEFINITION) if method == "PUT" else b""
            await prober.check(method, path, [], body, Role.SUPERVISOR)
    assert 422 in prober.seen and any(200 <= status < 300 for status in prober.seen)
