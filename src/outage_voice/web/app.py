"""The aiohttp application: routes and middlewares; state is attached by bootstrap."""

from __future__ import annotations

from aiohttp import web

from outage_voice.web import (
    audio,
    automation_api,
    campaigns_api,
    health,
    metrics,
    outages_api,
    reports_api,
    survey_comments_api,
    surveys_api,
    twilio_ivr,
    twilio_outbound,
    twilio_survey,
)
from outage_voice.web.console import automation as console_automation
from outage_voice.web.console import campaigns as console_campaigns
from outage_voice.web.console import outage_line as console_outage_line
from outage_voice.web.console import pages as console_pages
from outage_voice.web.middlewares import api_errors
from outage_voice.web.request_ids import echo_request_id, request_ids
from outage_voice.web.twilio_ivr import twilio_signatures

# A feeder-wide outage may name tens of thousands of premises; anything far beyond is a mistake.
MAX_BODY_BYTES = 4 * 1024 * 1024


def create_web_app() -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[
            request_ids,  # first: every line the others write carries the request's id
            metrics.webhook_timing,
            api_errors,
            twilio_signatures,
            console_pages.signin_required,
        ],
    )
    app.on_response_prepare.append(echo_request_id)
    app.add_routes(health.routes)
    app.add_routes(metrics.routes)
    app.add_routes(audio.routes)
    app.add_routes(outages_api.routes)
    app.add_routes(automation_api.routes)
    app.add_routes(reports_api.routes)
    app.add_routes(campaigns_api.routes)
    app.add_routes(surveys_api.routes)
    app.add_routes(twilio_ivr.routes)
    app.add_routes(twilio_outbound.routes)
    app.add_routes(twilio_survey.routes)
    app.add_routes(survey_comments_api.routes)
    app.add_routes(console_pages.routes)
    app.add_routes(console_campaigns.routes)
    app.add_routes(console_automation.routes)
    app.add_routes(console_outage_line.routes)
    return app
