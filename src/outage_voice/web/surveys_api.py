"""Post-outage surveys for supervisors: send one for an outage (`/api/v1/surveys/send`), read
what it answered (`/api/v1/surveys/{id}/results`), and work through the call-back list
(`/api/v1/surveys/callbacks`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from outage_voice.domain.auth import Role
from outage_voice.domain.errors import InvalidField, NotFound
from outage_voice.domain.outages import MAX_ID_CHARS, check_outage_id, parse_rfc3339
from outage_voice.domain.survey import (
    DEFAULT_SURVEY,
    MAX_COMMENT_S,
    MAX_KEY_CHARS,
    AnswerKind,
    Question,
    Survey,
    is_question_key,
    survey_as_json,
)
from outage_voice.services.survey_ports import SurveyCallback, SurveyStarted
from outage_voice.services.surveys import FIXED_COLUMNS, SurveySend
from outage_voice.web.auth import ANY_ROLE, require_role
from outage_voice.web.campaign_json import (
    PRIORITY_SHAPE,
    WINDOW_SHAPE,
    reject_unknown,
)
from outage_voice.web.jsonio import json_response, query_bool, read_json
from outage_voice.web.keys import CAMPAIGNS, SURVEYS

routes = web.RouteTableDef()
SUPERVISOR = frozenset({Role.SUPERVISOR})
SEND_FIELDS = frozenset(
    {"outage_id", "survey", "name", "cps", "max_concurrent", "window", "priority", "starts_at"}
)
DEFINITION_FIELDS = frozenset({"name", "questions", "closing_comment", "comment_cap_s"})
QUESTION_FIELDS = frozenset({"key", "prompt", "kind", "callback_on_yes"})
# A recorded comment is asked at the end (`closing_comment`), never between keypad questions.
KEYPAD_KINDS = (AnswerKind.SCALE_1_5, AnswerKind.YES_NO)
_SURVEY_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Words of the routes beside /api/v1/surveys/{survey_id}: never a survey's id.
RESERVED_IDS = frozenset({"send", "callbacks", "comments"})


def _text(body: Mapping[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidField(name, f"must be a non-empty string of at most {limit} characters")
    return value.strip()


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_send(body: object) -> SurveySend:
    """`{"outage_id": ..., "survey": "post_outage", "cps"?, "max_concurrent"?, "window"?,
    "priority"?, "name"?, "starts_at"?}`, checked for shape (the values are checked with the
    campaign's rules when it is made)."""
    if not isinstance(body, Mapping):
        raise InvalidField("body", "must be a JSON object")
    reject_unknown(body, SEND_FIELDS)
    outage_id = _text(body, "outage_id", MAX_ID_CHARS, required=True)
    assert outage_id is not None
    check_outage_id(outage_id)
    survey = _text(body, "survey", MAX_KEY_CHARS, required=False)
    name = _text(body, "name", 200, required=False)
    cps = body.get("cps")
    if cps is not None and (isinstance(cps, bool) or not isinstance(cps, int | float)):
        raise InvalidField("cps", "must be a number")
    concurrent = body.get("max_concurrent")
    if concurrent is not None and not _whole(concurrent):
        raise InvalidField("max_concurrent", "must be a whole number")
    window = body.get("window")
    if "window" in body and not isinstance(window, str):
        raise InvalidField("window", WINDOW_SHAPE)
    priority = body.get("priority", 0)
    if not _whole(priority):
        raise InvalidField("priority", PRIORITY_SHAPE)
    raw_start = body.get("starts_at")
    starts_at = None if raw_start is None else parse_rfc3339("starts_at", raw_start)
    return SurveySend(
        outage_id=outage_id,
        **({} if survey is None else {"survey": survey}),
        name=name,
        cps=cps,
        max_concurrent=concurrent,
        window=window,
        priority=priority,
        starts_at=starts_at,
    )


def check_survey_id(survey_id: str, field: str = "survey_id") -> str:
    if (
        not _SURVEY_ID.fullmatch(survey_id)
        or len(survey_id) > MAX_KEY_CHARS
        or survey_id in RESERVED_IDS
    ):
        raise InvalidField(
            field,
            f"must be 1 to {MAX_KEY_CHARS} lowercase letters, digits, '_' or '-' "
            f"(not {', '.join(sorted(RESERVED_IDS))})",
        )
    return survey_id


def _question(index: int, raw: object) -> Question:
    path = f"questions[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidField(path, "must be an object with key, prompt and kind")
    reject_unknown(raw, QUESTION_FIELDS, f"{path}.")
    key = raw.get("key")
    if not isinstance(key, str) or not is_question_key(key):
        raise InvalidField(
            f"{path}.key", f"must be 1 to {MAX_KEY_CHARS} lowercase letters, digits or '_'"
        )
    if key in FIXED_COLUMNS:
        raise InvalidField(
            f"{path}.key", f"{key!r} is a column of the survey export of its own: name it otherwise"
        )
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_KEY_CHARS:
        raise InvalidField(f"{path}.prompt", "must name a message of the prompt catalogs")
    kind = next((k for k in KEYPAD_KINDS if k.value == raw.get("kind")), None)
    if kind is None:
        kinds = " or ".join(f'"{k.value}"' for k in KEYPAD_KINDS)
        raise InvalidField(f"{path}.kind", f"must be {kinds}")
    callback = raw.get("callback_on_yes", False)
    if not isinstance(callback, bool):
        raise InvalidField(f"{path}.callback_on_yes", "must be true or false")
    if callback and kind is not AnswerKind.YES_NO:
        raise InvalidField(f"{path}.callback_on_yes", "only a yes_no question asks for a call back")
    return Question(key=key, prompt=prompt, kind=kind, callback_on_yes=callback)


def parse_definition(survey_id: str, body: object) -> Survey:
    """A supervisor's survey (`PUT /api/v1/surveys/{id}`): `{"name": ..., "questions": [{"key":
    "informed", "prompt": "survey_informed", "kind": "scale_1_5"}, ...], "closing_comment":
    false, "comment_cap_s": 60}`, checked; whether each prompt exists is the service's."""
    check_survey_id(survey_id)
    if not isinstance(body, Mapping):
        raise InvalidField("body", "must be a JSON object")
    reject_unknown(body, DEFINITION_FIELDS)
    name = _text(body, "name", 200, required=True)
    assert name is not None
    questions = body.get("questions")
    if not isinstance(questions, list) or not questions:
        raise InvalidField("questions", "must be a list of at least one question")
    asked = tuple(_question(index, raw) for index, raw in enumerate(questions))
    closing = body.get("closing_comment", False)
    if not isinstance(closing, bool):
        raise InvalidField("closing_comment", "must be true or false")
    cap = body.get("comment_cap_s", MAX_COMMENT_S)
    if not _whole(cap) or not 1 <= cap <= MAX_COMMENT_S:
        raise InvalidField(
            "comment_cap_s", f"must be a whole number of seconds, 1 to {MAX_COMMENT_S}"
        )
    try:
        return Survey(
            id=survey_id, name=name, questions=asked, closing_comment=closing, comment_cap_s=cap
        )
    except ValueError as exc:  # too many questions, or two with one key
        raise InvalidField("questions", str(exc)) from None


def definition_json(survey: Survey) -> dict[str, Any]:
    return {"id": survey.id, "built_in": survey.id == DEFAULT_SURVEY.id, **survey_as_json(survey)}


def started_json(started: SurveyStarted) -> dict[str, Any]:
    return {
        "campaign_id": started.campaign_id,
        "targets": started.targets,
        "excluded": dict(started.excluded),
    }


def callback_json(callback: SurveyCallback) -> dict[str, Any]:
    # The whole number: the supervisor is to call it back.
    return {
        "id": callback.id,
        "campaign_id": callback.campaign_id,
        "outage_id": callback.outage_id,
        "phone": callback.phone,
        "account_numbers": list(callback.account_numbers),
        "requested_at": callback.requested_at,
        "handled_at": callback.handled_at,
        "handled_by": callback.handled_by,
    }


def _outage_query(request: web.Request) -> str | None:
    raw = request.query.get("outage_id")
    return None if raw is None else check_outage_id(raw)


def _survey_in_path(request: web.Request) -> str:
    """The survey the URL names: one no survey could have (a NUL, 500 characters) is none."""
    raw = request.match_info["survey_id"]
    if raw == DEFAULT_SURVEY.id:
        return raw
    try:
        return check_survey_id(raw)
    except InvalidField:
        raise NotFound("survey", raw[:MAX_KEY_CHARS]) from None


@routes.post("/api/v1/surveys/send")
async def send(request: web.Request) -> web.Response:
    principal = await require_role(request, SUPERVISOR)
    asked = parse_send(await read_json(request))
    started = await request.app[SURVEYS].send(asked, actor=principal.actor)
    body = started_json(started)
    body["survey"] = asked.survey
    body["outage_id"] = asked.outage_id
    body["campaign"] = await request.app[CAMPAIGNS].show(started.campaign_id)
    return json_response(body, status=201)


@routes.get("/api/v1/surveys/callbacks")
async def callbacks(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    open_only = query_bool(request, "open") is True
    listed = await request.app[SURVEYS].callbacks(open_only=open_only)
    return json_response({"callbacks": [callback_json(callback) for callback in listed]})


@routes.post("/api/v1/surveys/callbacks/{callback_id}/handled")
async def handled(request: web.Request) -> web.Response:
    principal = await require_role(request, SUPERVISOR)
    raw = request.match_info["callback_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise NotFound("call-back request", raw)
    callback = await request.app[SURVEYS].handle_callback(int(raw), actor=principal.actor)
    return json_response(callback_json(callback))


@routes.get("/api/v1/surveys")
async def definitions(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    listed = await request.app[SURVEYS].definitions()
    return json_response({"surveys": [definition_json(survey) for survey in listed]})


@routes.get("/api/v1/surveys/{survey_id}")
async def definition(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    survey = await request.app[SURVEYS].survey(_survey_in_path(request))
    return json_response(definition_json(survey))


@routes.put("/api/v1/surveys/{survey_id}")
async def define(request: web.Request) -> web.Response:
    principal = await require_role(request, SUPERVISOR)
    survey = parse_definition(request.match_info["survey_id"], await read_json(request))
    created = await request.app[SURVEYS].define(survey, actor=principal.actor)
    return json_response(definition_json(survey), status=201 if created else 200)


@routes.get("/api/v1/surveys/{survey_id}/results")
async def results(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    survey_id = _survey_in_path(request)
    outage_id = _outage_query(request)
    summary = await request.app[SURVEYS].results(survey_id, outage_id=outage_id)
    body: dict[str, Any] = {"survey": survey_id, "outage_id": outage_id}
    body.update(summary.as_json())
    return json_response(body)
