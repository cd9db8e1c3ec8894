"""A supervisor's own survey (`PUT /api/v1/surveys/{id}`): checked field by field (every
prompt a message of every language's catalog), stored, listed beside the built-in one, sent
on demand, and its results counted by its own questions."""

from __future__ import annotations

import io
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.domain.outages import parse_outage_state
from outage_voice.services.surveys import export_table
from tests.support import T0, csv_text

Client = TestClient[web.Request, web.Application]
SHORT: dict[str, Any] = {
    "name": "Short, after storms",
    "questions": [
        {"key": "etr_accurate", "prompt": "survey_etr_accurate", "kind": "yes_no"},
        {"key": "call_me", "prompt": "survey_callback", "kind": "yes_no", "callback_on_yes": True},
    ],
}


async def test_a_supervisor_defines_a_survey_and_sends_it(
    api: Client, tokens: dict[Role, dict[str, str]], services: Services
) -> None:
    supervisor, viewer = tokens[Role.SUPERVISOR], tokens[Role.VIEWER]
    created = await api.put("/api/v1/surveys/storm-short", json=SHORT, headers=supervisor)
    assert created.status == 201, await created.text()
    stored = {
        "id": "storm-short",
        "built_in": False,
        "name": "Short, after storms",
        "questions": [
            {"key": "etr_accurate", "prompt": "survey_etr_accurate", "kind": "yes_no",
             "callback_on_yes": False},
            {"key": "call_me", "prompt": "survey_callback", "kind": "yes_no",
             "callback_on_yes": True},
        ],
        "closing_comment": False,
        "comment_cap_s": 60,
    }  # fmt: skip
    assert await created.json() == stored
    shown = await api.get("/api/v1/surveys/storm-short", headers=viewer)
    assert await shown.json() == stored

    # Changed: replaced, 200.
    longer = {**SHORT, "closing_comment": True, "comment_cap_s": 30}
    changed = await api.put("/api/v1/surveys/storm-short", json=longer, headers=supervisor)
    assert changed.status == 200
    assert (await changed.json())["comment_cap_s"] == 30
    listed = await (await api.get("/api/v1/surveys", headers=viewer)).json()
    assert [(s["id"], s["built_in"]) for s in listed["surveys"]] == [
        ("post_outage", True),
        ("storm-short", False),
    ]
    assert [q["key"] for q in listed["surveys"][0]["questions"]] == [
        "informed",
        "etr_accurate",
        "callback",
    ]

    # Sent, and its results counted by its own questions.
    report = await services.customers.import_stream(
        io.StringIO(csv_text("1001,Maria Garcia,512-555-1001,,P1,12 Oak St,F1,,"))
    )
    assert report.rejections == []
    state = parse_outage_state({"status": "restored", "feeder_ids": ["F1"]}, now=T0)
    await services.outages.put("S1", state, actor="oms")
    sent = await api.post(
        "/api/v1/surveys/send",
        json={"outage_id": "S1", "survey": "storm-short"},
        headers=supervisor,
    )
    assert sent.status == 201, await sent.text()
    body = await sent.json()
    assert body["campaign"]["message"]["variables"] == {"survey": "storm-short"}
    # Its number called, not answered.
    await services.pool.execute(
        "UPDATE campaign_targets SET attempts = 1, state = 'done', outcome = 'no_answer' "
        "WHERE campaign_id = $1",
        body["campaign_id"],
    )
    results = await (await api.get("/api/v1/surveys/storm-short/results", headers=viewer)).json()
    assert [q["key"] for q in results["questions"]] == ["etr_accurate", "call_me", "comment"]
    assert (results["calls"], results["reached"], results["response_rate"]) == (1, 0, 0.0)
    # The built-in survey's results do not count this one's calls.
    others = await (await api.get("/api/v1/surveys/post_outage/results", headers=viewer)).json()
    assert others["calls"] == 0 and "by_outage" not in others


async def test_a_survey_definition_is_checked_field_by_field(
    api: Client, tokens: dict[Role, dict[str, str]], services: Services
) -> None:
    supervisor = tokens[Role.SUPERVISOR]

    async def refused(survey_id: str, body: object, status: int = 422) -> Any:
        answer = await api.put(f"/api/v1/surveys/{survey_id}", json=body, headers=supervisor)
        assert answer.status == status, await answer.text()
        return (await answer.json())["error"]

    def question(**fields: Any) -> dict[str, Any]:
        return {**SHORT, "questions": [{"key": "q", "prompt": "survey_informed",
                                        "kind": "scale_1_5", **fields}]}  # fmt: skip

    assert (await refused("post_outage", SHORT))["field"] == "survey_id"
    assert (await refused("Storm", SHORT))["field"] == "survey_id"
    assert (await refused("callbacks", SHORT))["field"] == "survey_id"
    assert (await refused("s", {**SHORT, "colour": "red"}))["field"] == "colour"
    assert (await refused("s", {**SHORT, "questions": []}))["field"] == "questions"
    assert (await refused("s", {"questions": SHORT["questions"]}))["field"] == "name"
    assert (await refused("s", question(colour=1)))["field"] == "questions[0].colour"
    assert (await refused("s", question(key="Q 1")))["field"] == "questions[0].key"
    assert (await refused("s", question(kind="comment")))["field"] == "questions[0].kind"
    error = await refused("s", question(callback_on_yes=True))
    assert error["field"] == "questions[0].callback_on_yes"
    error = await refused("s", question(prompt="survey_mood"))
    assert error["field"] == "questions[0].prompt" and "survey_mood" in error["message"]
    twice = {**SHORT, "questions": [SHORT["questions"][0], SHORT["questions"][0]]}
    assert "differ" in (await refused("s", twice))["message"]
    nine = {**SHORT, "questions": [{**SHORT["questions"][0], "key": f"q{n}"} for n in range(10)]}
    assert (await refused("s", nine))["field"] == "questions"
    assert (await refused("s", {**SHORT, "comment_cap_s": 61}))["field"] == "comment_cap_s"
    assert (await refused("s", {**SHORT, "closing_comment": "yes"}))["field"] == "closing_comment"
    viewer = await api.put("/api/v1/surveys/s", json=SHORT, headers=tokens[Role.VIEWER])
    assert viewer.status == 403
    assert (await api.get("/api/v1/surveys/s", headers=supervisor)).status == 404
    assert await services.pool.fetchval("SELECT count(*) FROM surveys") == 0


async def test_a_question_cannot_take_the_name_of_a_fixed_column_of_the_export(
    api: Client, tokens: dict[Role, dict[str, str]]
) -> None:
    """The CSV export has a column per question, named by its key: a key such as `phone`
    would give the file two columns of one name."""
    fixed = export_table({}, []).header
    assert "phone" in fixed and "callback_requested" in fixed
    for column in fixed:
        body = {**SHORT, "questions": [{**SHORT["questions"][0], "key": column}]}
        answer = await api.put("/api/v1/surveys/s", json=body, headers=tokens[Role.SUPERVISOR])
        assert answer.status == 422, column
        error = (await answer.json())["error"]
        assert error["field"] == "questions[0].key" and column in error["message"], column
    # The built-in survey's keys, and any other, stay free.
    body = {**SHORT, "questions": [{**SHORT["questions"][0], "key": "callback"}]}
    answer = await api.put("/api/v1/surveys/s", json=body, headers=tokens[Role.SUPERVISOR])
    assert answer.status == 201, await answer.text()
