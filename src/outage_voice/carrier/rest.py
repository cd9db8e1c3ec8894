"""Twilio's REST API for calls, as much of it as outage-voice and the `twilio` package use."""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from outage_voice.adapters.audio import TARGET_RATE_HZ, pcm_to_wav
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.engine import API_VERSION, CarrierError, VirtualCarrier
from outage_voice.domain.phones import InvalidPhone, normalize_phone

CARRIER = web.AppKey("carrier", VirtualCarrier)
PAGE_SIZE = 50
RECORDING_MEDIA = "recording_media"
WAV_TYPE = "audio/x-wav"  # what Twilio answers a recording's URL with


def _error(error: CarrierError) -> web.Response:
    return web.json_response(
        {
            "code": error.code,
            "message": error.message,
            "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
            "status": error.status,
        },
        status=error.status,
    )


def _rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment)


def call_json(call: CallRecord) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}.json"
    return {
        "sid": call.sid,
        "account_sid": call.account_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_,
        "from_formatted": call.from_,
        "status": call.status.value,
        "direction": call.direction,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "date_created": _rfc2822(call.created_at),
        "date_updated": _rfc2822(
            call.end_time or call.answered_at or call.start_time or call.created_at
        ),
        "start_time": _rfc2822(call.start_time),
        "end_time": _rfc2822(call.end_time),
        "duration": str(call.duration_s) if call.end_time else None,
        "price": None,
        "price_unit": "USD",
        "parent_call_sid": None,
        "phone_number_sid": None,
        "caller_name": None,
        "forwarded_from": None,
        "group_sid": None,
        "queue_time": "0",
        "trunk_sid": None,
        "annotation": None,
        "uri": uri,
        "subresource_uris": {},
    }


@web.middleware
async def _basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    carrier = request.app[CARRIER]
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user = password = ""
    account = request.match_info.get("account_sid", "")
    valid = (
        scheme.lower() == "basic"
        and hmac.compare_digest(user, carrier.settings.account_sid)
        and hmac.compare_digest(password, carrier.settings.auth_token)
    )
    # As on Twilio, a recording's URL is enough to fetch it unless media auth is enforced.
    public = request.match_info.route.name == RECORDING_MEDIA and not carrier.settings.media_auth
    if not valid and not public:
        return _error(CarrierError(401, 20003, "Authenticate"))
    if account != carrier.settings.account_sid:
        return _error(
            CarrierError(404, 20404, f"The requested resource /Accounts/{account} was not found")
        )
    try:
        return await handler(request)
    except CarrierError as exc:
        return _error(exc)


routes = web.RouteTableDef()
_BASE = f"/{API_VERSION}/Accounts/{{account_sid}}/Calls"


@routes.post(_BASE + ".json")
async def create_call(request: web.Request) -> web.Response:
    form = await request.post()
    params = {key: str(value) for key, value in form.items()}
    events = [str(value) for value in form.getall("StatusCallbackEvent", [])]
    # twilio-python sends repeated fields; some clients send one space-separated value.
    events = [event for value in events for event in value.split()]
    carrier = request.app[CARRIER]
    if carrier.api_url is None:
        # This API's own base, whatever prefix it is mounted under: that of RecordingUrls.
        here = str(request.url.with_query(None))
        carrier.api_url = here[: here.index(f"/{API_VERSION}/")]
    call = carrier.create_call(params, events)
    if carrier.settings.create_delay_s > 0:
        await carrier.clock.sleep(carrier.settings.create_delay_s)
    return web.json_response(call_json(call), status=201)


@routes.get(_BASE + "/{sid}.json")
async def fetch_call(request: web.Request) -> web.Response:
    return web.json_response(call_json(request.app[CARRIER].get(request.match_info["sid"])))


@routes.post(_BASE + "/{sid}.json")
async def update_call(request: web.Request) -> web.Response:
    form = await request.post()
    status = str(form.get("Status", ""))
    call = request.app[CARRIER].cancel(request.match_info["sid"], status)
    return web.json_response(call_json(call))


# Not Twilio's: the simulator's own resource for a crowd of callers dialing an application,
# so a separate carrier-sim process can play a storm on the outage line.
@routes.post(f"/{API_VERSION}/Accounts/{{account_sid}}/SimulatedInboundCalls.json")
async def simulate_inbound_calls(request: web.Request) -> web.Response:
    """Form fields: To (the line dialed), Url (its Voice URL), From (one per caller,
    repeated), ArrivalsPerSecond, StatusCallback (optional). Answers the calls created."""
    form = await request.post()
    callers = [str(value) for value in form.getall("From", [])]
    to, url = str(form.get("To", "")), str(form.get("Url", ""))
    if urlsplit(url).scheme not in ("http", "https"):
        raise CarrierError(400, 21205, f"Url is not a valid URL: {url}")
    try:
        to = normalize_phone(to)
        callers = [normalize_phone(caller) for caller in callers]
    except InvalidPhone as exc:
        raise CarrierError(400, 21211, f"Invalid Phone Number: {exc}") from None
    if not callers:
        raise CarrierError(400, 21603, "At least one 'From' phone number is required.")
    try:
        rate = float(str(form.get("ArrivalsPerSecond") or 1))
    except ValueError:
        rate = 0.0
    if not 0 < rate < float("inf"):
        raise CarrierError(400, 20001, "ArrivalsPerSecond must be a positive number")
    callback = str(form.get("StatusCallback") or "") or None
    calls = request.app[CARRIER].dial_in(
        voice_url=url, to=to, callers=callers, arrivals_per_s=rate, status_callback=callback
    )
    return web.json_response({"calls": [call_json(call) for call in calls]}, status=201)


@routes.get(f"/{API_VERSION}/Accounts/{{account_sid}}/Recordings/{{name}}", name=RECORDING_MEDIA)
async def recording_media(request: web.Request) -> web.Response:
    """A recording as WAV (by its SID, with or without .wav): silence of its length, 8 kHz
    mono, as the far end is simulated."""
    sid = request.match_info["name"].removesuffix(".wav")
    recording = request.app[CARRIER].recordings.get(sid)
    if recording is None:
        raise CarrierError(
            404,
            20404,
            f"The requested resource /Recordings/{request.match_info['name']} was not found",
        )
    frames = round(recording.duration_s * TARGET_RATE_HZ)
    body = pcm_to_wav(bytes(2 * frames), rate_hz=TARGET_RATE_HZ)
    return web.Response(body=body, content_type=WAV_TYPE)


def _parse_time(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise CarrierError(400, 20001, f"Invalid StartTime: {raw}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


@routes.get(_BASE + ".json")
async def list_calls(request: web.Request) -> web.Response:
    carrier = request.app[CARRIER]
    query = request.query
    calls = list(carrier.calls.values())
    if "To" in query:
        calls = [c for c in calls if c.to == query["To"]]
    if "From" in query:
        calls = [c for c in calls if c.from_ == query["From"]]
    if "Status" in query:
        calls = [c for c in calls if c.status.value == query["Status"]]
    # Twilio filters on StartTime, which for a call still queued is its creation.
    if "StartTime>" in query:
        after = _parse_time(query["StartTime>"])
        calls = [c for c in calls if (c.start_time or c.created_at) >= after]
    if "StartTime<" in query:
        before = _parse_time(query["StartTime<"])
        calls = [c for c in calls if (c.start_time or c.created_at) <= before]
    calls.sort(key=lambda c: c.created_at, reverse=True)
    try:
        page_size = max(1, min(int(query.get("PageSize") or PAGE_SIZE), 1000))
    except ValueError:
        raise CarrierError(400, 20001, f"Invalid PageSize: {query['PageSize']}") from None
    page = calls[:page_size]
    uri = f"/{API_VERSION}/Accounts/{carrier.settings.account_sid}/Calls.json"
    return web.json_response(
        {
            "calls": [call_json(c) for c in page],
            "start": 0,
            "end": max(0, len(page) - 1),
            "page": 0,
            "page_size": page_size,
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": uri,
        }
    )


@routes.get(f"/{API_VERSION}/Accounts/{{account_sid}}.json")
async def fetch_account(request: web.Request) -> web.Response:
    """The account itself, as Twilio answers it (its auth token left out): what a harmless
    check of the credentials reads (`outage-voice doctor`)."""
    carrier = request.app[CARRIER]
    sid = carrier.settings.account_sid
    uri = f"/{API_VERSION}/Accounts/{sid}.json"
    now = _rfc2822(carrier.clock.now())
    return web.json_response(
        {
            "sid": sid,
            "owner_account_sid": sid,
            "friendly_name": "outage-voice virtual carrier",
            "status": "active",
            "type": "Full",
            "auth_token": None,
            "date_created": now,
            "date_updated": now,
            "uri": uri,
            "subresource_uris": {"calls": f"/{API_VERSION}/Accounts/{sid}/Calls.json"},
        }
    )


def create_carrier_app(carrier: VirtualCarrier) -> web.Application:
    app = web.Application(middlewares=[_basic_auth])
    app[CARRIER] = carrier
    app.add_routes(routes)
    return app
