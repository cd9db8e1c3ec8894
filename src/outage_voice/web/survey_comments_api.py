"""A survey comment's audio, as the customer said it: `GET /api/v1/surveys/comments/
{attempt_id}/{question}` for supervisors and viewers (the call's attempt id and the
question's key, as the survey's results and export name them)."""

from __future__ import annotations

from aiohttp import web

from outage_voice.domain.auth import Role
from outage_voice.domain.errors import NotFound
from outage_voice.domain.flows.campaign_call import MAX_ATTEMPT_DIGITS
from outage_voice.domain.survey import MAX_KEY_CHARS
from outage_voice.web.auth import require_role
from outage_voice.web.keys import SURVEY_COMMENTS

routes = web.RouteTableDef()
READERS = frozenset({Role.SUPERVISOR, Role.VIEWER})


@routes.get("/api/v1/surveys/comments/{attempt_id}/{question}")
async def comment_audio(request: web.Request) -> web.Response:
    await require_role(request, READERS)
    raw, question = request.match_info["attempt_id"], request.match_info["question"]
    name = f"{raw}/{question}"
    if not raw.isdecimal() or len(raw) > MAX_ATTEMPT_DIGITS or len(question) > MAX_KEY_CHARS:
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
