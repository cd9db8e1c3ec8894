"""Survey comments for supervisors and viewers: `GET /api/v1/surveys/comments` lists them,
`GET /api/v1/surveys/comments/{attempt_id}/{question}` is one comment's audio as the customer
said it (the call's attempt id and the question's key)."""

from __future__ import annotations

from aiohttp import web

from outage_voice.domain.auth import Role
from outage_voice.domain.errors import InvalidField, NotFound
from outage_voice.domain.flows.campaign_call import MAX_ATTEMPT_DIGITS
from outage_voice.domain.outages import check_outage_id
from outage_voice.domain.survey import DEFAULT_SURVEY, is_question_key
from outage_voice.web.auth import require_role
from outage_voice.web.jsonio import json_response, query_int
from outage_voice.web.keys import SURVEY_COMMENTS
from outage_voice.web.surveys_api import check_survey_id

routes = web.RouteTableDef()
READERS = frozenset({Role.SUPERVISOR, Role.VIEWER})
DEFAULT_LISTED = 100
MAX_LISTED = 1000


@routes.get("/api/v1/surveys/comments")
async def comments(request: web.Request) -> web.Response:
    """Recorded comments, newest first, with where to hear each (`?outage_id=`, `?survey=`,
    `?limit=`, 100 by default)."""
    await require_role(request, READERS)
    for name in request.query:
        if name not in ("outage_id", "survey", "limit"):
            raise InvalidField(name, "is not a filter of survey comments")
    # Checked as where they come from checks them: a NUL or a lone surrogate never reaches
    # the database (which refuses it with an error, not an empty list).
    outage_id, survey = request.query.get("outage_id"), request.query.get("survey")
    if outage_id is not None:
        check_outage_id(outage_id)
    if survey is not None and survey != DEFAULT_SURVEY.id:
        check_survey_id(survey, "survey")
    limit = query_int(request, "limit", minimum=1, maximum=MAX_LISTED) or DEFAULT_LISTED
    listed = await request.app[SURVEY_COMMENTS].listing(
        outage_id=outage_id, survey=survey, limit=limit
    )
    return json_response({"comments": [comment.as_json() for comment in listed]})


@routes.get("/api/v1/surveys/comments/{attempt_id}/{question}")
async def comment_audio(request: web.Request) -> web.Response:
    await require_role(request, READERS)
    raw, question = request.match_info["attempt_id"], request.match_info["question"]
    name = f"{raw}/{question}"
    if not raw.isdecimal() or len(raw) > MAX_ATTEMPT_DIGITS or not is_question_key(question):
        raise NotFound("survey comment", name)
    comment = await request.app[SURVEY_COMMENTS].audio(int(raw), question)
    if comment is None:
        raise NotFound("survey comment", name)
    if comment.audio is None:
        raise web.HTTPNotFound(
            text=f"survey comment {name!r} has not been fetched from the carrier yet; "
            "it is tried again every minute"
        )
    file_name = "".join(c for c in question if c.isascii() and (c.isalnum() or c in "_-"))
    return web.Response(
        body=comment.audio,
        content_type=comment.content_type or "audio/x-wav",
        headers={
            # A customer's own voice: kept out of shared caches and proxies' disks.
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'inline; filename="survey-comment-{raw}-{file_name}.wav"',
            "X-Comment-Duration-S": str(comment.duration_s),
        },
    )
