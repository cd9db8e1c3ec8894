"""What surveys answered, on a real database: `GET /api/v1/surveys/{id}/results` and
`outage-voice survey results|export` count exactly the answers stored for each call (every
answer of a partial call, nothing from a machine or a call never answered, nothing for a
question the survey no longer asks), by outage; and
the call-back list a supervisor works through (`/api/v1/surveys/callbacks`, `survey
callbacks`). The answers are written here as the survey call writes them (survey_answers,
survey_comments, survey_callbacks)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.domain.errors import InvalidField
from outage_voice.domain.outages import parse_outage_state
from outage_voice.services.surveys import SurveySend
from outage_voice.survey_cli import add_survey_parser, survey_command
from tests.support import T0, cli, cli_env, csv_text, run_cli

Client = TestClient[web.Request, web.Application]
MINUTE = timedelta(minutes=1)


def phone(number: int) -> str:
    return f"+1512555{number:04d}"


async def surveyed_storm(services: Services) -> tuple[int, int]:
    """Outages S1 (customers 1001-1007 on F1) and S2 (2001-2002 on F2), restored, each
    surveyed on demand; their survey campaigns."""
    rows = [
        f"{n},Customer {n},512-555-{n:04d},,P{n},1 Elm St,{'F1' if n < 2000 else 'F2'},,"
        + ("es" if n == 1002 else "")
        for n in (*range(1001, 1008), 2001, 2002)
    ]
    report = await services.customers.import_stream(io.StringIO(csv_text(*rows)))
    assert report.rejections == []
    for oms_id, feeder in (("S1", "F1"), ("S2", "F2")):
        state = parse_outage_state({"status": "restored", "feeder_ids": [feeder]}, now=T0)
        await services.outages.put(oms_id, state, actor="oms")
    first = await services.surveys.send(SurveySend(outage_id="S1"), actor="t")
    second = await services.surveys.send(SurveySend(outage_id="S2"), actor="t")
    return first.campaign_id, second.campaign_id


async def called(
    pool: asyncpg.Pool,
    campaign_id: int,
    number: str,
    at: datetime,
    *,
    status: str = "completed",
    answered_by: str | None = "human",
    answers: dict[str, int] | None = None,
    comment_s: int | None = None,
    callback: bool = False,
) -> int:
    """One call of the campaign to `number`, ended, with what the caller answered on it."""
    target_id = await pool.fetchval(
        "UPDATE campaign_targets SET attempts = attempts + 1, state = 'done', updated_at = $3 "
        "WHERE campaign_id = $1 AND phone = $2 RETURNING id",
        campaign_id,
        number,
        at,
    )
    attempt_no = await pool.fetchval(
        "SELECT attempts FROM campaign_targets WHERE id = $1", target_id
    )
    attempt_id: int = await pool.fetchval(
        "INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, status, "
        "answered_by, created_at, placed_at, ended_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $7, $7::timestamptz + interval '2 min') "
        "RETURNING id",
        target_id,
        campaign_id,
        attempt_no,
        number,
        status,
        answered_by,
        at,
    )
    for offset, (question, value) in enumerate((answers or {}).items()):
        await pool.execute(
            "INSERT INTO survey_answers (attempt_id, question, campaign_id, value, answered_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            attempt_id,
            question,
            campaign_id,
            value,
            at + (offset + 1) * timedelta(seconds=10),
        )
    if comment_s is not None:
        await pool.execute(
            "INSERT INTO survey_comments (attempt_id, question, campaign_id, recording_url, "
            "duration_s, recorded_at) VALUES ($1, 'comment', $2, 'http://carrier/RE1', $3, $4)",
            attempt_id,
            campaign_id,
            comment_s,
            at + MINUTE,
        )
    if callback:
        await pool.execute(
            "INSERT INTO survey_callbacks (attempt_id, campaign_id, outage_id, phone, "
            "account_numbers, requested_at) "
            "SELECT $1, c.id, c.outage_id, t.phone, t.account_numbers, $3 "
            "FROM campaigns c JOIN campaign_targets t ON t.campaign_id = c.id "
            "WHERE c.id = $2 AND t.phone = $4",
            attempt_id,
            campaign_id,
            at + MINUTE,
            number,
        )
    return attempt_id


async def answered_storm(services: Services) -> tuple[int, int]:
    pool = services.pool
    first, second = await surveyed_storm(services)
    at = T0 + timedelta(hours=3)
    await called(pool, first, phone(1001), at, answers={"informed": 5, "etr_accurate": 1,
                                                        "callback": 0})  # fmt: skip
    await called(pool, first, phone(1002), at + MINUTE, callback=True,
                 answers={"informed": 4, "etr_accurate": 0, "callback": 1})  # fmt: skip
    # Busy first; then answered the first question and hung up.
    await called(pool, first, phone(1003), at, status="busy", answered_by=None)
    await called(pool, first, phone(1003), at + 10 * MINUTE, answers={"informed": 2})
    # A machine, and no answer twice: called, never reached.
    await called(pool, first, phone(1004), at, answered_by="machine_end_beep")
    await called(pool, first, phone(1005), at, status="no-answer", answered_by=None)
    await called(pool, first, phone(1005), at + 30 * MINUTE, status="no-answer", answered_by=None)
    # 1006 is not called yet. 1007 answered and said nothing the survey still asks.
    await called(pool, first, phone(1007), at, answers={"old_question": 3})
    await called(pool, second, phone(2001), at + 2 * MINUTE, comment_s=12,
                 answers={"informed": 3, "etr_accurate": 1, "callback": 0})  # fmt: skip
    return first, second


EXPECTED_S1 = {
    "calls": 6,
    "reached": 4,
    "responded": 3,
    "completed": 2,
    "partial": 1,
    "response_rate": 0.5,
    "questions": [
        {"key": "informed", "kind": "scale_1_5", "count": 3, "mean": 3.6667,
         "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}},
        {"key": "etr_accurate", "kind": "yes_no", "count": 2, "yes_share": 0.5,
         "distribution": {"yes": 1, "no": 1}},
        {"key": "callback", "kind": "yes_no", "count": 2, "yes_share": 0.5,
         "distribution": {"yes": 1, "no": 1}},
    ],
}  # fmt: skip
EXPECTED_S2 = {
    "calls": 1,
    "reached": 1,
    "responded": 1,
    "completed": 1,
    "partial": 0,
    "response_rate": 1.0,
    "questions": [
        {"key": "informed", "kind": "scale_1_5", "count": 1, "mean": 3.0,
         "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 0}},
        {"key": "etr_accurate", "kind": "yes_no", "count": 1, "yes_share": 1.0,
         "distribution": {"yes": 1, "no": 0}},
        {"key": "callback", "kind": "yes_no", "count": 1, "yes_share": 0.0,
         "distribution": {"yes": 0, "no": 1}},
    ],
}  # fmt: skip
EXPECTED_ALL = {
    "calls": 7,
    "reached": 5,
    "responded": 4,
    "completed": 3,
    "partial": 1,
    "response_rate": 0.5714,
    "questions": [
        {"key": "informed", "kind": "scale_1_5", "count": 4, "mean": 3.5,
         "distribution": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}},
        {"key": "etr_accurate", "kind": "yes_no", "count": 3, "yes_share": 0.6667,
         "distribution": {"yes": 2, "no": 1}},
        {"key": "callback", "kind": "yes_no", "count": 3, "yes_share": 0.3333,
         "distribution": {"yes": 1, "no": 2}},
    ],
    "by_outage": {"S1": EXPECTED_S1, "S2": EXPECTED_S2},
}  # fmt: skip


def run(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["survey", *args], env=cli_env(DATABASE_URL=dsn))


async def test_results_count_exactly_the_answers_stored_per_call_and_per_outage(
    api: Client, tokens: dict[Role, dict[str, str]], services: Services
) -> None:
    await answered_storm(services)
    viewer = tokens[Role.VIEWER]

    everything = await api.get("/api/v1/surveys/post_outage/results", headers=viewer)
    assert everything.status == 200, await everything.text()
    assert await everything.json() == {"survey": "post_outage", "outage_id": None, **EXPECTED_ALL}

    one = await api.get("/api/v1/surveys/post_outage/results?outage_id=S1", headers=viewer)
    assert await one.json() == {
        "survey": "post_outage",
        "outage_id": "S1",
        **EXPECTED_S1,
        "by_outage": {"S1": EXPECTED_S1},
    }

    unknown = await api.get("/api/v1/surveys/nps/results", headers=viewer)
    assert unknown.status == 404
    assert (await unknown.json())["error"]["code"] == "not_found"
    no_outage = await api.get("/api/v1/surveys/post_outage/results?outage_id=S9", headers=viewer)
    assert no_outage.status == 404
    unsigned = await api.get("/api/v1/surveys/post_outage/results")
    assert unsigned.status == 401
    # What no survey or outage could be named is none, never a fault.
    for path, status in (
        ("/api/v1/surveys/%00/results", 404),
        ("/api/v1/surveys/" + "x" * 500 + "/results", 404),
        ("/api/v1/surveys/%00", 404),
        ("/api/v1/surveys/post_outage/results?outage_id=%00", 422),
        ("/api/v1/surveys/post_outage/results?outage_id=", 422),
    ):
        odd = await api.get(path, headers=viewer)
        assert odd.status == status, path


async def test_results_before_any_call(
    api: Client, tokens: dict[Role, dict[str, str]], services: Services
) -> None:
    answer = await api.get("/api/v1/surveys/post_outage/results", headers=tokens[Role.OMS])
    body = await answer.json()
    assert (body["calls"], body["response_rate"]) == (0, None)
    assert [q["count"] for q in body["questions"]] == [0, 0, 0]


async def test_the_csv_export_is_one_row_per_number_called_as_stored(
    services: Services, database_dsn: str, tmp_path: Path
) -> None:
    first, second = await answered_storm(services)
    output = tmp_path / "survey.csv"

    # The export as the shell runs it, in a process of its own.
    exported = subprocess.run(
        cli("survey", "export", "--output", str(output)),
        env=cli_env(DATABASE_URL=database_dsn),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr.strip() == f"7 survey call(s) written to {output}"
    reader = csv.DictReader(io.StringIO(output.read_text(encoding="utf-8")))
    assert reader.fieldnames == [
        "survey", "outage", "campaign", "called_at", "account_numbers", "phone", "language",
        "reached", "informed", "etr_accurate", "callback", "old_question", "comment_s",
        "callback_requested",
    ]  # fmt: skip
    by_phone = {}
    for line in csv.reader(io.StringIO(output.read_text(encoding="utf-8"))):
        by_phone[line[5]] = line
    at = T0 + timedelta(hours=3)

    def expected(
        campaign: int, number: int, when: datetime, reached: str, *answers: str, comment: str = ""
    ) -> list[str]:
        outage = "S1" if number < 2000 else "S2"
        language = "es" if number == 1002 else "en"
        return ["post_outage", outage, str(campaign), when.isoformat(), str(number),
                phone(number), language, reached, *answers, comment,
                "yes" if number == 1002 else "no"]  # fmt: skip

    assert by_phone.pop("phone") == list(reader.fieldnames)
    assert by_phone == {
        phone(1001): expected(first, 1001, at, "yes", "5", "yes", "no", ""),
        phone(1002): expected(first, 1002, at + MINUTE, "yes", "4", "no", "yes", ""),
        phone(1003): expected(first, 1003, at + 10 * MINUTE, "yes", "2", "", "", ""),
        phone(1004): expected(first, 1004, at, "no", "", "", "", ""),
        phone(1005): expected(first, 1005, at + 30 * MINUTE, "no", "", "", "", ""),
        phone(1007): expected(first, 1007, at, "yes", "", "", "", "3"),
        phone(2001): expected(second, 2001, at + 2 * MINUTE, "yes", "3", "yes", "no", "",
                              comment="12"),
    }  # fmt: skip

    # One outage, to the terminal.
    only = run(database_dsn, "export", "--outage", "S2", "--survey", "post_outage")
    assert only.returncode == 0, only.stderr
    lines = only.stdout.splitlines()
    assert len(lines) == 2 and lines[1].split(",")[5] == phone(2001)
    assert "old_question" not in lines[0]

    unknown = run(database_dsn, "export", "--survey", "nps")
    assert unknown.returncode == 1 and "nps" in unknown.stderr


async def test_results_from_the_shell_match_the_api(services: Services, database_dsn: str) -> None:
    await answered_storm(services)
    as_json = run(database_dsn, "results", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "survey": "post_outage",
        "outage_id": None,
        **EXPECTED_ALL,
    }
    text = run(database_dsn, "results", "post_outage", "--outage", "S1")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        "survey post_outage, outage S1:",
        "  6 called, 4 reached, 3 answered (50%), 2 completed, 1 partial",
        "    informed: 3 answers, mean 3.67 of 5  (1:0 2:1 3:0 4:1 5:1)",
        "    etr_accurate: 2 answers, 50% yes  (yes 1, no 1)",
        "    callback: 2 answers, 50% yes  (yes 1, no 1)",
    ]


async def test_the_call_back_list(
    api: Client, tokens: dict[Role, dict[str, str]], services: Services, database_dsn: str
) -> None:
    first, _ = await answered_storm(services)
    supervisor, viewer = tokens[Role.SUPERVISOR], tokens[Role.VIEWER]
    # A second request, later, on S2.
    await called(services.pool, first, phone(1006), T0 + timedelta(hours=5), callback=True,
                 answers={"informed": 1, "etr_accurate": 0, "callback": 1})  # fmt: skip

    listed = await (await api.get("/api/v1/surveys/callbacks?open=true", headers=viewer)).json()
    requests = listed["callbacks"]
    assert [(r["phone"], r["outage_id"], r["account_numbers"]) for r in requests] == [
        (phone(1002), "S1", ["1002"]),
        (phone(1006), "S1", ["1006"]),
    ]
    assert requests[0]["campaign_id"] == first and requests[0]["handled_at"] is None
    oldest = requests[0]["id"]

    refused = await api.post(f"/api/v1/surveys/callbacks/{oldest}/handled", headers=viewer)
    assert refused.status == 403
    handled = await api.post(f"/api/v1/surveys/callbacks/{oldest}/handled", headers=supervisor)
    assert handled.status == 200, await handled.text()
    done = await handled.json()
    assert done["handled_by"].endswith("test supervisor") and done["handled_at"] == T0.isoformat()
    # Handled twice: the first stands.
    again = await api.post(f"/api/v1/surveys/callbacks/{oldest}/handled", headers=supervisor)
    assert (await again.json())["handled_at"] == T0.isoformat()
    for missing in ("999", "x1"):
        gone = await api.post(f"/api/v1/surveys/callbacks/{missing}/handled", headers=supervisor)
        assert gone.status == 404

    still_open = await (await api.get("/api/v1/surveys/callbacks?open=1", headers=viewer)).json()
    assert [r["phone"] for r in still_open["callbacks"]] == [phone(1006)]
    every = await (await api.get("/api/v1/surveys/callbacks", headers=viewer)).json()
    assert [bool(r["handled_by"]) for r in every["callbacks"]] == [True, False]
    bad = await api.get("/api/v1/surveys/callbacks?open=maybe", headers=viewer)
    assert bad.status == 422

    shell = run(database_dsn, "callbacks")
    assert shell.returncode == 0, shell.stderr
    header, line = shell.stdout.splitlines()
    assert header.split() == ["ID", "REQUESTED", "OUTAGE", "PHONE", "ACCOUNTS", "HANDLED"]
    second = str(still_open["callbacks"][0]["id"])
    assert line.split() == [second, "2026-11-23T23:01+00:00", "S1", phone(1006), "1006", "-"]
    marked = run(database_dsn, "callbacks", "--handled", second)
    assert marked.returncode == 0 and marked.stdout.strip() == (
        f"call-back request {second} handled by cli"
    )
    assert run(database_dsn, "callbacks").stdout.splitlines() == [
        "ID  REQUESTED  OUTAGE  PHONE  ACCOUNTS  HANDLED",
        "(no call-back requests waiting)",
    ]
    everything: Any = json.loads(run(database_dsn, "callbacks", "--all", "--json").stdout)
    assert [r["handled_by"] for r in everything["callbacks"]] == [done["handled_by"], "cli"]
    unknown = run(database_dsn, "callbacks", "--handled", "999")
    assert unknown.returncode == 1 and "999" in unknown.stderr


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["results", "\udcff"], "SURVEY_ID"),
        (["results", "x" * 500], "SURVEY_ID"),
        (["results", "--outage", "S1\udcff"], "--outage"),
        (["export", "--survey", "\udcff"], "--survey"),
        (["export", "--outage", "x" * 500], "--outage"),
        (["send", "S1\udcff"], "OUTAGE_ID"),
        (["send", "S1", "--survey", "\ud800"], "--survey"),
        (["callbacks", "--handled", str(2**63)], "--handled"),
        (["callbacks", "--handled", "0"], "--handled"),
        (["send", "S1", "--max-concurrent", str(2**63)], "max_concurrent"),
        (["send", "S1", "--priority", str(2**63)], "priority"),
        (["send", "S1", "--cps", "1e400"], "cps"),
    ],
)
async def test_the_cli_names_the_argument_no_survey_or_outage_could_have(
    services: Services, argv: list[str], option: str
) -> None:
    """What a shell passes (bytes no UTF-8 decodes arrive as lone surrogates, numbers past
    int64) is named back to the operator, never a database fault."""
    parser = argparse.ArgumentParser()
    add_survey_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["survey", *argv])
    with pytest.raises(InvalidField) as refused:
        await survey_command(services.surveys, args)
    assert refused.value.field == option
