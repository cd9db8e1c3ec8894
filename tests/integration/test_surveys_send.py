"""Sending post-outage surveys on a real database: the sample drawn in SQL is exactly
domain.survey.in_sample; the automatic survey's audience (the outage's customers and those
its automatic campaigns called) with each number left out for the first reason that applies;
a replayed schedule row finds its campaign; a supervisor's survey on demand asks everyone
who may be asked (API and shell); and the campaigns API sends surveys to their own route."""

from __future__ import annotations

import asyncio
import io
import math
import random
import subprocess
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.adapters.db.surveys import SURVEY_AUDIENCE_LOCK_KEY
from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.domain.automation import AutomationRules
from outage_voice.domain.outages import parse_outage_state
from outage_voice.domain.survey import (
    NOT_SAMPLED,
    OPTED_OUT,
    SURVEY_OPTED_OUT,
    SURVEYED_RECENTLY,
    SurveyRules,
    in_sample,
)
from tests.support import T0, cli, cli_env, csv_text, run_cli

Client = TestClient[web.Request, web.Application]
DAY = timedelta(days=1)
SCHEDULE_ID = 77
EXPIRES = T0 + 2 * DAY


def phone(number: int) -> str:
    return f"+1512555{number:04d}"


def customer(account: int, premise: str, feeder: str, language: str = "") -> str:
    return (
        f"{account},Customer {account},512-555-{account:04d},,{premise},1 Elm St,{feeder},,"
        + language
    )


async def storm(services: Services, customers: int = 40) -> None:
    """Customers 1001.. on feeder F1 (each its own premise and number); outage S1 on F1,
    restored."""
    rows = [customer(1000 + n, f"P{n}", "F1", "es" if n % 3 == 0 else "") for n in range(1, 41)]
    report = await services.customers.import_stream(io.StringIO(csv_text(*rows[:customers])))
    assert report.rejections == []
    await put(services, "S1", {"status": "restored", "feeder_ids": ["F1"]})


async def put(services: Services, oms_id: str, body: dict[str, Any]) -> int:
    await services.outages.put(oms_id, parse_outage_state(body, now=T0), actor="oms")
    pk: int = await services.pool.fetchval("SELECT id FROM outages WHERE oms_id = $1", oms_id)
    return pk


async def targets(pool: asyncpg.Pool, campaign_id: int) -> dict[str, tuple[str, str | None]]:
    rows = await pool.fetch(
        "SELECT phone, state, outcome FROM campaign_targets WHERE campaign_id = $1", campaign_id
    )
    return {row["phone"]: (row["state"], row["outcome"]) for row in rows}


async def survey_call_placed(pool: asyncpg.Pool, number: str, at: Any) -> None:
    """An earlier survey (another outage's) whose call was placed to `number` at `at`."""
    campaign_id = await pool.fetchval(
        "INSERT INTO campaigns (name, kind, spec, cps, max_concurrent, window_opens, "
        "window_closes, created_by, created_at, updated_at, state) "
        "VALUES ('old survey', 'survey', '{}'::jsonb, 1, 1, '08:00', '21:00', 't', $1, $1, "
        "'completed') RETURNING id",
        at,
    )
    target_id = await pool.fetchval(
        "INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids, "
        "language, timezone, state, outcome, attempts, updated_at) "
        "VALUES ($1, $2, '{}', '{}', 'en', 'America/Chicago', 'done', 'reached', 1, $3) "
        "RETURNING id",
        campaign_id,
        number,
        at,
    )
    await pool.execute(
        "INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, status, "
        "created_at, placed_at, ended_at) VALUES ($1, $2, 1, $3, 'completed', $4, $4, $4)",
        target_id,
        campaign_id,
        number,
        at,
    )


async def told_elsewhere(pool: asyncpg.Pool, outage_pk: int, number: str, attempts: int) -> None:
    """An automatic campaign of the outage that called `number` (`attempts` times), a number
    whose premise the outage no longer names."""
    campaign_id = await pool.fetchval(
        "INSERT INTO campaigns (name, kind, spec, outage_id, cps, max_concurrent, "
        "window_opens, window_closes, created_by, created_at, updated_at, state, automatic, "
        "trigger_event, trigger_event_id) VALUES ('ack', 'outage_ack', '{}'::jsonb, $1, 1, 1, "
        "'08:00', '21:00', 'automation', $2, $2, 'completed', true, 'confirmed', $3) "
        "RETURNING id",
        outage_pk,
        T0,
        900 + attempts,
    )
    await pool.execute(
        "INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids, "
        "language, timezone, state, outcome, attempts, updated_at) "
        "VALUES ($1, $2, '{X1}', '{PX}', 'en', 'America/Chicago', 'done', 'reached', $3, $4)",
        campaign_id,
        number,
        attempts,
        T0,
    )


def rules(share: float) -> AutomationRules:
    return AutomationRules(survey=SurveyRules(sample_share=share))


# --- the sample --------------------------------------------------------------------------


async def test_the_sample_in_sql_is_exactly_the_one_python_draws(pool: asyncpg.Pool) -> None:
    draw = random.Random(18)
    numbers = [f"+1{draw.randrange(2_000_000_000, 9_999_999_999)}" for _ in range(500)]
    outages = ["S1", "storm-2026-11:feeder.7", "X"]
    shares = [0.0, 1e-9, 0.05, 0.2, 1 / 3, 0.5, 0.5000000001, 0.75, 0.999999, 1.0]
    cases = [(n, o, s) for n in numbers for o in outages for s in shares]
    got = await pool.fetch(
        "SELECT survey_in_sample(n, o, s) AS inside "
        "FROM unnest($1::text[], $2::text[], $3::float8[]) WITH ORDINALITY AS u (n, o, s, i) "
        "ORDER BY i",
        [c[0] for c in cases],
        [c[1] for c in cases],
        [c[2] for c in cases],
    )
    expected = [in_sample(n, o, s) for n, o, s in cases]
    assert [row["inside"] for row in got] == expected
    # Not a vacuous agreement: a share's sample is about that share of the numbers.
    fifth = [e for (_, _, s), e in zip(cases, expected, strict=True) if s == 0.2]
    assert 0.15 < sum(fifth) / len(fifth) < 0.25

    # At the edge: a share whose bound falls right at a number's own point, and the float8
    # either side of it. Rounding the share to 15 digits, as a float8 cast to numeric does,
    # puts some of these on the wrong side.
    edge: list[tuple[str, str, float]] = []
    for number in numbers[:60]:
        point = await pool.fetchval("SELECT survey_sample_point($1, 'S1')", number)
        share = int(point) / 2**64
        for near in (math.nextafter(share, 0), share, math.nextafter(share, 1)):
            edge.append((number, "S1", near))
    at_edge = await pool.fetch(
        "SELECT survey_in_sample(n, o, s) AS inside "
        "FROM unnest($1::text[], $2::text[], $3::float8[]) WITH ORDINALITY AS u (n, o, s, i) "
        "ORDER BY i",
        [c[0] for c in edge],
        [c[1] for c in edge],
        [c[2] for c in edge],
    )
    assert [row["inside"] for row in at_edge] == [in_sample(n, o, s) for n, o, s in edge]
    assert any(in_sample(n, o, s) for n, o, s in edge)
    assert not all(in_sample(n, o, s) for n, o, s in edge)


# --- the automatic survey ----------------------------------------------------------------


async def test_automatic_survey_asks_a_sample_and_says_why_each_other_number_was_left_out(
    services: Services, pool: asyncpg.Pool
) -> None:
    await storm(services)
    outage_pk = await pool.fetchval("SELECT id FROM outages WHERE oms_id = 'S1'")
    flagged = {
        phone(1001): ("opted_out_at", OPTED_OUT),
        phone(1002): ("invalid_at", "invalid_number"),
        phone(1003): ("survey_opted_out_at", SURVEY_OPTED_OUT),
    }
    for number, (column, _) in flagged.items():
        await pool.execute(f"UPDATE phones SET {column} = $2 WHERE e164 = $1", number, T0)
    # Opted out of everything and of surveys too: the first reason is the one given.
    await pool.execute(
        "UPDATE phones SET survey_opted_out_at = $2 WHERE e164 = $1", phone(1001), T0
    )
    # Asked 29 days ago: within the 30-day gap. 31 days ago: may be asked again.
    await survey_call_placed(pool, phone(1004), T0 - 29 * DAY)
    await survey_call_placed(pool, phone(1005), T0 - 31 * DAY)
    # Told by the acknowledgement, then taken off the outage by the OMS; another was only
    # planned (never called): not told, not asked.
    await pool.execute("INSERT INTO phones (e164) VALUES ('+15125559001'), ('+15125559002')")
    await told_elsewhere(pool, outage_pk, "+15125559001", attempts=1)
    await told_elsewhere(pool, outage_pk, "+15125559002", attempts=0)

    share = 0.5
    campaign_id = await services.surveys.start_automatic(
        outage_pk=outage_pk, schedule_id=SCHEDULE_ID, rules=rules(share), expires_at=EXPIRES, now=T0
    )

    written = await targets(pool, campaign_id)
    everyone = [phone(1000 + n) for n in range(1, 41)] + ["+15125559001"]
    assert sorted(written) == sorted(everyone)
    for number in everyone:
        if number in flagged:
            reason: str | None = flagged[number][1]
        elif number == phone(1004):
            reason = SURVEYED_RECENTLY
        elif not in_sample(number, "S1", share):
            reason = NOT_SAMPLED
        else:
            reason = None
        assert written[number] == (("pending", None) if reason is None else ("excluded", reason))
    asked = [n for n, (state, _) in written.items() if state == "pending"]
    assert phone(1005) in asked or not in_sample(phone(1005), "S1", share)
    assert 10 < len(asked) < 30

    campaign = await pool.fetchrow("SELECT * FROM campaigns WHERE id = $1", campaign_id)
    assert campaign["kind"] == "survey" and campaign["state"] == "running"
    assert campaign["automatic"] is True
    assert (campaign["trigger_event"], campaign["trigger_event_id"]) == ("survey", SCHEDULE_ID)
    assert campaign["expires_at"] == EXPIRES and campaign["outage_id"] == outage_pk
    assert campaign["spec"]["message"]["variables"] == {"survey": "post_outage"}
    assert campaign["spec"]["audience"]["outage_id"] == "S1"
    language = await pool.fetchval(
        "SELECT language FROM campaign_targets WHERE campaign_id = $1 AND phone = $2",
        campaign_id,
        phone(1003),
    )
    assert language == "es"

    # The schedule row replayed (a crash before it was marked made): the same campaign.
    again = await services.surveys.start_automatic(
        outage_pk=outage_pk,
        schedule_id=SCHEDULE_ID,
        rules=rules(1.0),
        expires_at=EXPIRES,
        now=T0 + timedelta(minutes=5),
    )
    assert again == campaign_id
    assert await targets(pool, campaign_id) == written
    assert await pool.fetchval("SELECT count(*) FROM campaigns WHERE kind = 'survey'") == 3


async def test_a_number_surveyed_by_one_outage_is_not_asked_again_by_the_next(
    services: Services, pool: asyncpg.Pool
) -> None:
    await storm(services, customers=10)
    first = await pool.fetchval("SELECT id FROM outages WHERE oms_id = 'S1'")
    second = await put(services, "S2", {"status": "restored", "feeder_ids": ["F1"]})
    made = await services.surveys.start_automatic(
        outage_pk=first, schedule_id=1, rules=rules(1.0), expires_at=EXPIRES, now=T0
    )
    # Its first number was called (the call placed); the others not yet.
    target_id = await pool.fetchval(
        "UPDATE campaign_targets SET attempts = 1, state = 'done', outcome = 'reached' "
        "WHERE campaign_id = $1 AND phone = $2 RETURNING id",
        made,
        phone(1001),
    )
    await pool.execute(
        "INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, status, "
        "created_at, placed_at, ended_at) VALUES ($1, $2, 1, $3, 'completed', $4, $4, $4)",
        target_id,
        made,
        phone(1001),
        T0 + timedelta(hours=1),
    )
    # The others were never called: the campaign ran past its end.
    await pool.execute(
        "UPDATE campaign_targets SET state = 'excluded', outcome = 'expired' "
        "WHERE campaign_id = $1 AND state = 'pending'",
        made,
    )
    await pool.execute("UPDATE campaigns SET state = 'completed' WHERE id = $1", made)
    later = await services.surveys.start_automatic(
        outage_pk=second, schedule_id=2, rules=rules(1.0), expires_at=EXPIRES, now=T0 + DAY
    )
    written = await targets(pool, later)
    assert written[phone(1001)] == ("excluded", SURVEYED_RECENTLY)
    assert {written[phone(1000 + n)] for n in range(2, 11)} == {("pending", None)}


async def test_no_sample_asks_nobody_and_a_whole_one_asks_everyone_eligible(
    services: Services, pool: asyncpg.Pool
) -> None:
    await storm(services, customers=12)
    outage_pk = await pool.fetchval("SELECT id FROM outages WHERE oms_id = 'S1'")
    none = await services.surveys.start_automatic(
        outage_pk=outage_pk, schedule_id=5, rules=rules(0.0), expires_at=EXPIRES, now=T0
    )
    assert set((await targets(pool, none)).values()) == {("excluded", NOT_SAMPLED)}
    whole = await services.surveys.start_automatic(
        outage_pk=outage_pk, schedule_id=6, rules=rules(1.0), expires_at=EXPIRES, now=T0
    )
    assert set((await targets(pool, whole)).values()) == {("pending", None)}


# --- on demand -------------------------------------------------------------------------


async def test_a_supervisor_surveys_everyone_on_an_outage_who_may_be_asked(
    api: Client, tokens: dict[Role, dict[str, str]], services: Services, pool: asyncpg.Pool
) -> None:
    await storm(services, customers=20)
    await pool.execute("UPDATE phones SET opted_out_at = $2 WHERE e164 = $1", phone(1001), T0)
    await pool.execute(
        "UPDATE phones SET survey_opted_out_at = $2 WHERE e164 = $1", phone(1002), T0
    )
    await survey_call_placed(pool, phone(1003), T0 - DAY)
    # The sample is the automatic survey's own: with none at all, on demand asks everyone.
    await services.automation.update_rules({"survey": {"sample_share": 0}}, actor="t")

    sent = await api.post(
        "/api/v1/surveys/send",
        json={"outage_id": "S1", "cps": 2, "window": "09:00-20:00"},
        headers=tokens[Role.SUPERVISOR],
    )
    assert sent.status == 201, await sent.text()
    body = await sent.json()
    assert body["survey"] == "post_outage" and body["outage_id"] == "S1"
    assert body["targets"] == 17
    assert body["excluded"] == {OPTED_OUT: 1, SURVEY_OPTED_OUT: 1, SURVEYED_RECENTLY: 1}
    view = body["campaign"]
    assert view["id"] == body["campaign_id"] and view["kind"] == "survey"
    assert view["state"] == "running" and view["automatic"] is False
    assert view["pacing"]["cps"] == 2 and view["pacing"]["window"] == "09:00-20:00"
    assert view["message"]["variables"] == {"survey": "post_outage"}
    assert view["progress"]["targets"] == 20
    created_by = await pool.fetchval(
        "SELECT created_by FROM campaigns WHERE id = $1", body["campaign_id"]
    )
    assert created_by.endswith("test supervisor")

    # Sent again before its calls are made: those numbers are asked once.
    again = await api.post(
        "/api/v1/surveys/send", json={"outage_id": "S1"}, headers=tokens[Role.SUPERVISOR]
    )
    repeated = await again.json()
    assert repeated["campaign_id"] != body["campaign_id"]
    assert repeated["targets"] == 0
    assert repeated["excluded"] == {OPTED_OUT: 1, SURVEY_OPTED_OUT: 1, SURVEYED_RECENTLY: 18}


async def test_sending_a_survey_refuses_what_it_cannot_send(
    api: Client, tokens: dict[Role, dict[str, str]], services: Services
) -> None:
    await storm(services, customers=3)
    supervisor = tokens[Role.SUPERVISOR]

    async def refused(body: object, status: int, headers: dict[str, str] = supervisor) -> Any:
        answer = await api.post("/api/v1/surveys/send", json=body, headers=headers)
        assert answer.status == status, await answer.text()
        return (await answer.json())["error"]

    assert (await refused({"outage_id": "S1", "sample": 0.5}, 422))["field"] == "sample"
    assert (await refused({}, 422))["field"] == "outage_id"
    assert (await refused({"outage_id": "S1", "cps": "fast"}, 422))["field"] == "cps"
    assert (await refused({"outage_id": "S1", "cps": 0}, 422))["field"] == "cps"
    assert (await refused({"outage_id": "S1", "window": "8-9"}, 422))["field"] == "window"
    assert (await refused({"outage_id": "S1", "priority": 1.5}, 422))["field"] == "priority"
    assert (await refused({"outage_id": "S1", "starts_at": "soon"}, 422))["field"] == "starts_at"
    assert (await refused([1], 422))["field"] == "body"
    assert "NOPE" in (await refused({"outage_id": "NOPE"}, 404))["message"]
    assert "nps" in (await refused({"outage_id": "S1", "survey": "nps"}, 404))["message"]
    await refused({"outage_id": "S1"}, 403, headers=tokens[Role.VIEWER])
    await refused({"outage_id": "S1"}, 403, headers=tokens[Role.OMS])
    assert await services.pool.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_the_campaigns_api_sends_surveys_to_their_own_route(
    api: Client, tokens: dict[Role, dict[str, str]], services: Services, database_dsn: str
) -> None:
    await storm(services, customers=3)
    answer = await api.post(
        "/api/v1/campaigns",
        json={"name": "survey", "kind": "survey", "audience": {"outage_id": "S1"}},
        headers=tokens[Role.SUPERVISOR],
    )
    assert answer.status == 422, await answer.text()
    error = (await answer.json())["error"]
    assert error["field"] == "kind" and "/api/v1/surveys/send" in error["message"]
    misspelt = await api.post(
        "/api/v1/campaigns",
        json={"name": "x", "kind": "surveys", "audience": {"outage_id": "S1"}},
        headers=tokens[Role.SUPERVISOR],
    )
    assert "survey" not in (await misspelt.json())["error"]["message"].split("one of ")[1]

    shell = run_cli(
        ["campaign", "create", "--name", "s", "--kind", "survey", "--outage", "S1"],
        env=cli_env(DATABASE_URL=database_dsn),
    )
    assert shell.returncode == 2 and "invalid choice: 'survey'" in shell.stderr
    assert await services.pool.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_survey_send_from_the_shell(
    services: Services, pool: asyncpg.Pool, database_dsn: str
) -> None:
    await storm(services, customers=5)
    await pool.execute("UPDATE phones SET opted_out_at = $2 WHERE e164 = $1", phone(1001), T0)

    def survey(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(["survey", *args], env=cli_env(DATABASE_URL=database_dsn))

    # The send as the shell runs it, in a process of its own.
    sent = subprocess.run(
        cli("survey", "send", "S1", "--cps", "3"),
        env=cli_env(DATABASE_URL=database_dsn),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == (
        "survey of outage S1: campaign 1, running, 4 to call; left out: opted_out 1"
    )
    row = await pool.fetchrow("SELECT kind, state, cps, created_by FROM campaigns WHERE id = 1")
    assert dict(row) == {"kind": "survey", "state": "running", "cps": 3.0, "created_by": "cli"}

    unknown = survey("send", "NOPE")
    assert unknown.returncode == 1 and "NOPE" in unknown.stderr
    bad = survey("send", "S1", "--window", "late")
    assert bad.returncode == 1 and bad.stderr.startswith("outage-voice: --window:")


async def test_two_surveys_written_at_once_ask_a_number_once(
    services: Services, pool: asyncpg.Pool
) -> None:
    """Another survey's audience being written when this one's is (the tick's automatic
    survey and a supervisor's send, for two outages on one feeder): the second write waits
    for the first and sees its numbers, rather than both asking them."""
    await storm(services, customers=3)
    second = await put(services, "S2", {"status": "restored", "feeder_ids": ["F1"]})
    async with pool.acquire() as racing:
        writing = racing.transaction()
        await writing.start()
        await racing.execute("SELECT pg_advisory_xact_lock($1)", SURVEY_AUDIENCE_LOCK_KEY)
        other = await racing.fetchval(
            "INSERT INTO campaigns (name, kind, spec, cps, max_concurrent, window_opens, "
            "window_closes, created_by, created_at, updated_at, state) VALUES ('S1: survey', "
            "'survey', '{}'::jsonb, 1, 1, '08:00', '21:00', 't', $1, $1, 'running') RETURNING id",
            T0,
        )
        await racing.execute(
            "INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids, "
            "language, timezone, state, updated_at) "
            "VALUES ($1, $2, '{1001}', '{P1}', 'en', 'America/Chicago', 'pending', $3)",
            other,
            phone(1001),
            T0,
        )
        started = asyncio.create_task(
            services.surveys.start_automatic(
                outage_pk=second, schedule_id=2, rules=rules(1.0), expires_at=EXPIRES, now=T0
            )
        )
        # Until the second write waits on the first (or, were it not to wait, is done).
        for _ in range(1000):
            if started.done() or await pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the second survey's write neither waited nor finished")
        await writing.commit()
    written = await targets(pool, await started)
    assert written[phone(1001)] == ("excluded", SURVEYED_RECENTLY)
    assert {written[phone(1002)], written[phone(1003)]} == {("pending", None)}
