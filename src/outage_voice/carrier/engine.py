"""The simulated network: pacing, the far end, TwiML execution and status callbacks."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import random
import secrets
import time
import wave
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit

import aiohttp

from outage_voice.adapters.twilio.signature import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    compute_signature,
    settings_header,
)
from outage_voice.carrier.calls import CallRecord, CallStatus, new_call_sid
from outage_voice.carrier.clock import SimClock
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.carrier.twiml import (
    Dial,
    Gather,
    Hangup,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Say,
    TwimlError,
    Verb,
    parse_twiml,
)
from outage_voice.config import VIRTUAL_ACCOUNT_SID, VIRTUAL_AUTH_TOKEN
from outage_voice.domain.phones import InvalidPhone, mask_phone, normalize_phone

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
WEBHOOK_TIMEOUT_S = 15.0
# The id a shared key is named by in X-Twilio-Webhooks-Signature-Settings (Twilio's form).
VIRTUAL_SHARED_KEY_ID = "webhooks_sharedkey_virtual"
# Twilio's error codes for webhooks it could not use.
HTTP_RETRIEVAL_FAILURE = 11200
HTTP_CONNECTION_FAILURE = 11205
DOCUMENT_PARSE_FAILURE = 12100
MAX_DOCUMENTS_PER_CALL = 50
SPOKEN_WORDS_PER_S = 2.5
MAX_CALL_S = 4 * 3600
PLAYABLE_TYPES = ("audio/", "application/octet-stream")
STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
BEEP_S = 0.5  # the tone before a <Record>
_SIP_CODES = {
    CallStatus.COMPLETED: 200,
    CallStatus.BUSY: 486,
    CallStatus.NO_ANSWER: 487,
    CallStatus.FAILED: 404,
    CallStatus.CANCELED: 487,
}


class CarrierError(Exception):
    """An error the REST API answers with, in Twilio's shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _CallEnded(Exception):
    """The far end hung up (or the document ended the call)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Recording:
    """What a <Record> kept: served by the REST app at its RecordingUrl as that many
    seconds of 8 kHz silence (the far end is simulated; only the length matters)."""

    sid: str
    account_sid: str
    call_sid: str
    duration_s: float
    made_at: datetime

    @property
    def whole_seconds(self) -> int:
        # Twilio reports whole seconds; a recording kept is at least one.
        return max(1, round(self.duration_s))


@dataclass(kw_only=True)
class CarrierSettings:
    account_sid: str = VIRTUAL_ACCOUNT_SID
    auth_token: str = VIRTUAL_AUTH_TOKEN
    cps: float | None = 1.0  # Twilio's default account limit
    max_concurrent: int | None = None
    personas: PersonaBook = field(default_factory=PersonaBook)
    reject_429_share: float = 0.0
    # Status callback faults, as carriers really deliver them: lost, twice, late and so
    # out of order (each delivery waits a random 0..max seconds of simulated time).
    callback_drop_share: float = 0.0
    callback_duplicate_share: float = 0.0
    callback_delay_max_s: float = 0.0
    seed: int = 0
    webhook_timeout_s: float = WEBHOOK_TIMEOUT_S
    # Signing as a Twilio Webhooks rule with a shared key does: this secret and algorithm,
    # named in X-Twilio-Webhooks-Signature-Settings. None: the Auth Token and HMAC_SHA1.
    webhook_shared_key: str | None = None
    webhook_signature_algorithm: str = HMAC_SHA256
    # A slow API: each call creation is answered this late, the call already under way (an
    # application that dies meanwhile has placed a call it never learnt the id of).
    create_delay_s: float = 0.0
    # Where this carrier's REST API is reached, the base of every RecordingUrl. None: learnt
    # from the first call created through the API.
    api_url: str | None = None
    # Twilio's "Enforce HTTP Auth on Media URLs": recordings fetched only with the account's
    # basic auth. Off, as Twilio's default, they are fetched by their URL alone.
    media_auth: bool = False

    def signing(self) -> tuple[str, str, dict[str, str]]:
        """The key, the algorithm and the extra header every webhook is signed with."""
        if self.webhook_shared_key is None:
            return self.auth_token, HMAC_SHA1, {}
        algorithm = self.webhook_signature_algorithm
        named = settings_header(VIRTUAL_SHARED_KEY_ID, algorithm)
        return self.webhook_shared_key, algorithm, {SIGNATURE_SETTINGS_HEADER: named}


class VirtualCarrier:
    def __init__(self, settings: CarrierSettings, clock: SimClock) -> None:
        self.settings = settings
        self.clock = clock
        self.calls: dict[str, CallRecord] = {}
        self.recordings: dict[str, Recording] = {}
        self.api_url = settings.api_url
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._random = random.Random(settings.seed)
        self._next_slot: datetime | None = None
        self._live = 0
        self._slot_freed = asyncio.Condition()
        self._http: aiohttp.ClientSession | None = None

    async def end_calls(
        self, deliver: Callable[[CallRecord, Mapping[str, str]], Awaitable[None]]
    ) -> list[CallRecord]:
        """Ends every call still live, as a network going down would: one answered ends
        completed, one not yet answered failed. Each final status callback is handed to
        `deliver` (the application in this process, whose listening socket may already be
        closed) rather than sent over HTTP, so the application knows every call is over; so
        is that of a call that ended while the socket was closing and could not be told."""
        ended: list[CallRecord] = []
        stopping: list[asyncio.Task[None]] = []
        for sid, task in list(self._tasks.items()):
            call = self.calls[sid]
            if call.status.is_final or task.done():
                continue
            answered = call.status is CallStatus.IN_PROGRESS
            if not answered:
                call.error_message = "the carrier shut down before the call was answered"
            self._finish(call, CallStatus.COMPLETED if answered else CallStatus.FAILED)
            call.note(self.clock.now(), "carrier_shutdown")
            task.cancel()
            stopping.append(task)
            ended.append(call)
        await asyncio.gather(*stopping, return_exceptions=True)
        ending = {call.sid for call in ended}
        unheard = [
            call
            for call in self.calls.values()
            if call.sid not in ending and call.status.is_final and _final_callback_unheard(call)
        ]
        for call in [*ended, *unheard]:
            if not call.status_callback or "completed" not in call.status_callback_events:
                continue
            params = self._callback_params(call, "completed")
            call.callbacks.append(
                {
                    "event": "completed",
                    "status": call.status.value,
                    "sequence": params["SequenceNumber"],
                    "deliveries": [{"at": self.clock.now().isoformat(), "in_process": True}],
                }
            )
            try:
                await deliver(call, params)
            except Exception as exc:  # shutting down: say which call, go on with the others
                logger.warning("final callback for %s not applied: %r", mask_phone(call.to), exc)
        return ended

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
            )
        return self._http

    # --- REST-facing operations -------------------------------------------------------

    def create_call(self, params: Mapping[str, str], events: list[str]) -> CallRecord:
        if (
            self.settings.reject_429_share
            and self._random.random() < self.settings.reject_429_share
        ):
            raise CarrierError(429, 20429, "Too Many Requests")
        to, from_, url = params.get("To", ""), params.get("From", ""), params.get("Url", "")
        try:
            to = normalize_phone(to)
        except InvalidPhone:
            raise CarrierError(400, 21211, f"Invalid 'To' Phone Number: {to}") from None
        if not from_:
            raise CarrierError(400, 21603, "A 'From' phone number is required.")
        if urlsplit(url).scheme not in ("http", "https"):
            raise CarrierError(400, 21205, f"Url is not a valid URL: {url}")
        unknown = set(events) - STATUS_EVENTS
        if unknown:
            raise CarrierError(400, 21626, f"Invalid StatusCallbackEvent: {sorted(unknown)[0]}")
        try:
            timeout_s = float(params.get("Timeout") or 60)
        except ValueError:
            raise CarrierError(400, 21207, f"Invalid Timeout: {params['Timeout']}") from None
        method = (params.get("Method") or "POST").upper()
        callback_method = (params.get("StatusCallbackMethod") or "POST").upper()
        if method not in ("GET", "POST") or callback_method not in ("GET", "POST"):
            raise CarrierError(400, 21208, "Method and StatusCallbackMethod are GET or POST")
        detection = params.get("MachineDetection") or None
        if detection is not None and detection.lower() not in ("enable", "detectmessageend"):
            raise CarrierError(400, 21209, f"Invalid MachineDetection: {detection}")
        async_amd = (params.get("AsyncAmd") or "").lower() == "true"
        call, persona = self._new_call(
            direction="outbound-api",
            to=to,
            from_=from_,
            url=url,
            method=method,
            status_callback=params.get("StatusCallback") or None,
            events=frozenset(events or ["completed"]),
            callback_method=callback_method,
            machine_detection=detection,
            timeout_s=max(5.0, min(timeout_s, 600.0)),
            async_amd_callback=(params.get("AsyncAmdStatusCallback") or None)
            if async_amd
            else None,
        )
        call.note(call.created_at, "queued")
        start_at = self._reserve_slot()
        self._tasks[call.sid] = self.clock.spawn(self._run(call, persona, start_at))
        return call

    def dial_in(
        self,
        *,
        voice_url: str,
        to: str,
        callers: list[str],
        arrivals_per_s: float,
        status_callback: str | None = None,
    ) -> list[CallRecord]:
        """A storm on the outage line: `callers` dial `to` at a steady arrival rate, each
        played by its persona, the application answering at `voice_url`."""
        if arrivals_per_s <= 0:
            raise ValueError("arrivals_per_s must be positive")
        start = self.clock.now()
        calls = []
        for index, caller in enumerate(callers):
            call, persona = self._new_call(
                direction="inbound",
                to=to,
                from_=caller,
                url=voice_url,
                method="POST",
                status_callback=status_callback,
                events=frozenset({"completed"}),
                callback_method="POST",
                machine_detection=None,
                timeout_s=60.0,
            )
            arrival = start + timedelta(seconds=index / arrivals_per_s)
            self._tasks[call.sid] = self.clock.spawn(self._inbound(call, persona, arrival))
            calls.append(call)
        return calls

    async def _inbound(self, call: CallRecord, persona: Persona, arrival: datetime) -> None:
        await self.clock.sleep((arrival - self.clock.now()).total_seconds())
        call.start_time = self.clock.now()
        # Twilio's first webhook of an inbound call says "ringing"; answering is the app's TwiML.
        self._set_status(call, CallStatus.RINGING)
        with contextlib.suppress(_CallEnded):
            await self._converse(call, persona)
        await self._end(call, CallStatus.COMPLETED)

    def _new_call(
        self,
        *,
        direction: str,
        to: str,
        from_: str,
        url: str,
        method: str,
        status_callback: str | None,
        events: frozenset[str],
        callback_method: str,
        machine_detection: str | None,
        timeout_s: float,
        async_amd_callback: str | None = None,
    ) -> tuple[CallRecord, Persona]:
        """A call on the books, with the persona of its far end (the callee, or the caller)."""
        persona = self.settings.personas.persona_for(from_ if direction == "inbound" else to)
        call = CallRecord(
            sid=new_call_sid(),
            account_sid=self.settings.account_sid,
            direction=direction,
            to=to,
            from_=from_,
            url=url,
            method=method,
            status_callback=status_callback,
            status_callback_events=events,
            status_callback_method=callback_method,
            machine_detection=machine_detection,
            timeout_s=timeout_s,
            created_at=self.clock.now(),
            persona=persona.behaviour.value,
            async_amd_callback=async_amd_callback,
        )
        self.calls[call.sid] = call
        return call, persona

    def _reserve_slot(self) -> datetime:
        """Calls start in order, evenly spaced at the account's CPS (Twilio queues the rest)."""
        now = self.clock.now()
        cps = self.settings.cps
        if not cps:
            return now
        slot = now if self._next_slot is None or self._next_slot < now else self._next_slot
        self._next_slot = slot + timedelta(microseconds=round(1_000_000 / cps))
        return slot

    def cancel(self, sid: str, status: str) -> CallRecord:
        call = self.get(sid)
        task = self._tasks.get(sid)
        if status == "canceled" and call.status in (
            CallStatus.QUEUED,
            CallStatus.RINGING,
            CallStatus.INITIATED,
        ):
            if task is not None:
                task.cancel()
            self._finish(call, CallStatus.CANCELED)
        elif status == "completed" and call.status is CallStatus.IN_PROGRESS:
            if task is not None:
                task.cancel()
            self._finish(call, CallStatus.COMPLETED)
        elif status not in ("canceled", "completed"):
            raise CarrierError(400, 21218, f"Invalid Status: {status}")
        else:
            return call  # already over: nothing changes, as with Twilio
        self.clock.spawn(self._callback(call, "completed"))
        return call

    def keep_recording(self, call: CallRecord, duration_s: float) -> Recording:
        recording = Recording(
            sid="RE" + secrets.token_hex(16),
            account_sid=call.account_sid,
            call_sid=call.sid,
            duration_s=duration_s,
            made_at=self.clock.now(),
        )
        self.recordings[recording.sid] = recording
        return recording

    def recording_url(self, recording: Recording) -> str:
        path = f"/{API_VERSION}/Accounts/{recording.account_sid}/Recordings/{recording.sid}"
        return f"{(self.api_url or '').rstrip('/')}{path}"

    def get(self, sid: str) -> CallRecord:
        call = self.calls.get(sid)
        if call is None:
            raise CarrierError(
                404, 20404, f"The requested resource /Calls/{sid}.json was not found"
            )
        return call

    # --- one call -------------------------------------------------------------------------

    async def _run(self, call: CallRecord, persona: Persona, start_at: datetime) -> None:
        try:
            await self.clock.sleep((start_at - self.clock.now()).total_seconds())
            await self._take_line()
            try:
                await self._place(call, persona)
            finally:
                await self._free_line()
        except asyncio.CancelledError:
            if not call.status.is_final:
                self._finish(call, CallStatus.CANCELED)
            raise
        except Exception as exc:  # a simulator bug must not hang a test: record and end
            logger.exception("virtual call %s failed inside the simulator", call.sid)
            call.error_message = f"simulator error: {exc!r}"
            self._finish(call, CallStatus.FAILED)

    async def _take_line(self) -> None:
        limit = self.settings.max_concurrent
        if limit is None:
            self._live += 1
            return
        async with self._slot_freed:
            await self.clock.wait(self._slot_freed.wait_for(lambda: self._live < limit))
            self._live += 1

    async def _free_line(self) -> None:
        async with self._slot_freed:
            self._live -= 1
            self._slot_freed.notify_all()

    async def _place(self, call: CallRecord, persona: Persona) -> None:
        call.start_time = self.clock.now()
        self._set_status(call, CallStatus.INITIATED)
        await self._callback(call, "initiated")
        if persona.behaviour is Behaviour.INVALID:
            call.error_code = persona.error_code
            call.error_message = "invalid phone number"
            await self._end(call, CallStatus.FAILED)
            return
        self._set_status(call, CallStatus.RINGING)
        await self._callback(call, "ringing")
        if persona.behaviour is Behaviour.BUSY:
            await self.clock.sleep(1.0)
            await self._end(call, CallStatus.BUSY)
            return
        if persona.behaviour is Behaviour.NO_ANSWER or persona.ring_s >= call.timeout_s:
            await self.clock.sleep(call.timeout_s)
            await self._end(call, CallStatus.NO_ANSWER)
            return
        await self.clock.sleep(persona.ring_s)
        call.answered_at = self.clock.now()
        self._set_status(call, CallStatus.IN_PROGRESS)
        if call.machine_detection and call.async_amd_callback:
            # With AsyncAmd the application's TwiML starts at once; the verdict comes later.
            self.clock.spawn(self._report_amd(call, persona))
        elif call.machine_detection:
            call.answered_by = await self._detect(call, persona)
        await self._callback(call, "answered")
        with contextlib.suppress(_CallEnded):
            await self._converse(call, persona)
        await self._end(call, CallStatus.COMPLETED)

    async def _detect(self, call: CallRecord, persona: Persona) -> str:
        if persona.behaviour is Behaviour.FAX:
            return "fax"
        if persona.behaviour is Behaviour.MACHINE:
            if (call.machine_detection or "").lower() == "detectmessageend":
                await self.clock.sleep(persona.greeting_s)
                call.note(self.clock.now(), "beep")
                return "machine_end_beep"
            await self.clock.sleep(2.0)
            return "machine_start"
        await self.clock.sleep(1.5)
        return "human"

    async def _report_amd(self, call: CallRecord, persona: Persona) -> None:
        started = self.clock.now()
        answered_by = await self._detect(call, persona)
        call.answered_by = answered_by
        assert call.async_amd_callback is not None
        params = self.call_params(call) | {
            "AnsweredBy": answered_by,
            "MachineDetectionDuration": str(
                round((self.clock.now() - started).total_seconds() * 1000)
            ),
        }
        entry: dict[str, Any] = {"event": "amd", "answered_by": answered_by, "deliveries": []}
        call.callbacks.append(entry)
        await self._deliver(call, call.async_amd_callback, "POST", params, entry)

    async def _end(self, call: CallRecord, status: CallStatus) -> None:
        self._finish(call, status)
        await self._callback(call, "completed")

    def _finish(self, call: CallRecord, status: CallStatus) -> None:
        if call.status.is_final:
            return
        call.end_time = self.clock.now()
        self._set_status(call, status)

    def _set_status(self, call: CallRecord, status: CallStatus) -> None:
        call.status = status
        call.note(self.clock.now(), status.value)

    # --- the conversation -------------------------------------------------------------

    async def _converse(self, call: CallRecord, persona: Persona) -> None:
        deadline = call.answered_at or self.clock.now()
        if persona.behaviour is Behaviour.HANGUP:
            deadline += timedelta(seconds=persona.hangup_after_s)
        else:
            deadline += timedelta(seconds=MAX_CALL_S)
        talk = _Talk(self, call, persona, deadline)
        url, method = call.url, call.method
        extra: dict[str, str] = {}
        for _ in range(MAX_DOCUMENTS_PER_CALL):
            verbs = await self._fetch_twiml(call, url, method, extra)
            if verbs is None:
                return
            next_request = await talk.run(verbs, url)
            if next_request is None:
                return
            url, method, extra = next_request
        self._application_error(call, DOCUMENT_PARSE_FAILURE, "too many documents in one call")

    def call_params(self, call: CallRecord) -> dict[str, str]:
        params = {
            "CallSid": call.sid,
            "AccountSid": call.account_sid,
            "From": call.from_,
            "To": call.to,
            "CallStatus": call.status.value,
            "Direction": call.direction,
            "ApiVersion": API_VERSION,
        }
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return params

    async def _fetch_twiml(
        self, call: CallRecord, url: str, method: str, extra: Mapping[str, str]
    ) -> tuple[Verb, ...] | None:
        params = self.call_params(call) | dict(extra)
        started = time.perf_counter()
        entry: dict[str, Any] = {"url": url, "method": method, "at": self.clock.now().isoformat()}
        call.webhooks.append(entry)
        try:
            status, body, _ = await self._request(url, method, params)
        except (TimeoutError, aiohttp.ClientError) as exc:
            entry.update(latency_ms=_ms(started), error=repr(exc))
            code = (
                HTTP_CONNECTION_FAILURE if isinstance(exc, TimeoutError) else HTTP_RETRIEVAL_FAILURE
            )
            self._application_error(call, code, f"webhook failed: {exc!r}")
            return None
        entry.update(latency_ms=_ms(started), status=status)
        if not 200 <= status < 300:
            self._application_error(call, HTTP_RETRIEVAL_FAILURE, f"webhook answered HTTP {status}")
            return None
        if call.status is CallStatus.RINGING:
            call.answered_at = self.clock.now()
            self._set_status(call, CallStatus.IN_PROGRESS)  # an inbound call, answered by TwiML
        try:
            return parse_twiml(body)
        except TwimlError as exc:
            self._application_error(call, exc.code, str(exc))
            return None

    async def post_after_hangup(
        self, call: CallRecord, url: str, method: str, extra: Mapping[str, str]
    ) -> None:
        """An action requested once the caller has gone (a recording cut short by a hang-up):
        sent as Twilio sends it, its answer unused, since there is no one left to hear it."""
        params = self.call_params(call) | {"CallStatus": CallStatus.COMPLETED.value} | dict(extra)
        started = time.perf_counter()
        entry: dict[str, Any] = {"url": url, "method": method, "at": self.clock.now().isoformat()}
        call.webhooks.append(entry)
        try:
            status, _, _ = await self._request(url, method, params)
        except (TimeoutError, aiohttp.ClientError) as exc:
            entry.update(latency_ms=_ms(started), error=repr(exc))
            return
        entry.update(latency_ms=_ms(started), status=status)

    def _application_error(self, call: CallRecord, code: int, message: str) -> None:
        # What a real caller hears when the application fails: the thing we promise never happens.
        call.error_code = code
        call.error_message = message
        call.transcript.append(
            {"verb": "error", "text": "An application error has occurred.", "code": code}
        )
        call.note(self.clock.now(), "application_error", code=code, message=message)

    async def _request(
        self, url: str, method: str, params: Mapping[str, str]
    ) -> tuple[int, str, Mapping[str, str]]:
        """A signed request to the application, as Twilio signs it."""
        session = self._session()
        key, algorithm, headers = self.settings.signing()
        if method == "GET":
            separator = "&" if urlsplit(url).query else "?"
            full = f"{url}{separator}{urlencode(params)}" if params else url
            headers = headers | {SIGNATURE_HEADER: compute_signature(key, full, (), algorithm)}
            async with session.get(full, headers=headers) as response:
                return response.status, await response.text(), response.headers
        # Encoding the form once here costs a fraction of aiohttp's FormData path.
        headers = headers | {
            SIGNATURE_HEADER: compute_signature(key, url, params, algorithm),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with session.post(url, data=urlencode(params).encode(), headers=headers) as response:
            return response.status, await response.text(), response.headers

    async def fetch_audio(self, url: str) -> tuple[float, str | None, str | None]:
        """Seconds of audio, its spoken text (X-Prompt-Text) and an error, if any."""
        session = self._session()
        try:
            async with session.get(url) as response:
                body = await response.read()
                kind = response.headers.get("Content-Type", "")
                text = response.headers.get("X-Prompt-Text")
                if response.status != 200:
                    return 0.0, None, f"HTTP {response.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            return 0.0, None, repr(exc)
        if not kind.startswith(PLAYABLE_TYPES):
            return 0.0, None, f"not playable audio: {kind or 'no Content-Type'}"
        return _audio_seconds(body), None if text is None else unquote(text), None

    # --- status callbacks -------------------------------------------------------------

    def _callback_params(self, call: CallRecord, event: str) -> dict[str, str]:
        params = self.call_params(call) | {
            "Timestamp": format_datetime(self.clock.now()),
            "SequenceNumber": str(sum(1 for e in call.callbacks if e["event"] != "amd")),
            "CallbackSource": "call-progress-events",
        }
        if event == "completed":
            params["CallDuration"] = str(call.duration_s)
            params["SipResponseCode"] = str(_SIP_CODES.get(call.status, 200))
            if call.error_code is not None and call.status is CallStatus.FAILED:
                params["ErrorCode"] = str(call.error_code)
        return params

    async def _callback(self, call: CallRecord, event: str) -> None:
        if not call.status_callback or event not in call.status_callback_events:
            return
        params = self._callback_params(call, event)
        entry: dict[str, Any] = {
            "event": event,
            "status": call.status.value,
            "sequence": params["SequenceNumber"],
            "deliveries": [],
        }
        call.callbacks.append(entry)
        faults = self.settings
        if faults.callback_drop_share and self._random.random() < faults.callback_drop_share:
            entry["dropped"] = True
            return
        copies = 2 if self._random.random() < faults.callback_duplicate_share else 1
        url, method = call.status_callback, call.status_callback_method
        if faults.callback_delay_max_s <= 0:
            for _ in range(copies):
                await self._deliver(call, url, method, params, entry)
            return
        for _ in range(copies):
            delay_s = self._random.uniform(0.0, faults.callback_delay_max_s)
            self.clock.spawn(self._deliver_later(delay_s, call, url, method, params, entry))

    async def _deliver_later(
        self,
        delay_s: float,
        call: CallRecord,
        url: str,
        method: str,
        params: Mapping[str, str],
        entry: dict[str, Any],
    ) -> None:
        await self.clock.sleep(delay_s)
        await self._deliver(call, url, method, params, entry)

    async def _deliver(
        self,
        call: CallRecord,
        url: str,
        method: str,
        params: Mapping[str, str],
        entry: dict[str, Any],
    ) -> None:
        started = time.perf_counter()
        delivery: dict[str, Any] = {"at": self.clock.now().isoformat()}
        entry["deliveries"].append(delivery)
        try:
            # Real I/O keeps this task busy, so simulated time does not run on meanwhile.
            status, _, _ = await self._request(url, method, params)
            delivery.update(http_status=status, latency_ms=_ms(started))
        except (TimeoutError, aiohttp.ClientError) as exc:
            delivery.update(error=repr(exc), latency_ms=_ms(started))
            logger.warning("status callback for %s failed: %r", mask_phone(call.to), exc)


class _Talk:
    """Executes TwiML verbs for one call, with the persona at the far end."""

    def __init__(
        self, carrier: VirtualCarrier, call: CallRecord, persona: Persona, deadline: datetime
    ):
        self.carrier = carrier
        self.call = call
        self.persona = persona
        self.deadline = deadline
        self.gathers = 0

    async def spend(self, seconds: float) -> None:
        """Let simulated time pass on the line; the far end may hang up meanwhile."""
        clock = self.carrier.clock
        remaining = (self.deadline - clock.now()).total_seconds()
        if seconds >= remaining:
            await clock.sleep(max(0.0, remaining))
            self.call.note(clock.now(), "far_end_hangup")
            raise _CallEnded
        await clock.sleep(seconds)

    async def run(
        self, verbs: tuple[Verb, ...], url: str
    ) -> tuple[str, str, dict[str, str]] | None:
        for verb in verbs:
            if isinstance(verb, Say | Play | Pause):
                await self.prompt(verb, url)
            elif isinstance(verb, Gather):
                outcome = await self.gather(verb, url)
                if outcome is not None:
                    return outcome
            elif isinstance(verb, Record):
                outcome = await self.record(verb, url)
                if outcome is not None:
                    return outcome
            elif isinstance(verb, Redirect):
                return urljoin(url, verb.url), verb.method, {}
            elif isinstance(verb, Hangup):
                self.call.note(self.carrier.clock.now(), "hangup")
                return None
            elif isinstance(verb, Reject):
                self.call.note(self.carrier.clock.now(), "reject", reason=verb.reason)
                return None
            elif isinstance(verb, Dial):
                self.call.transfer_to = verb.target
                self.call.transcript.append({"verb": "Dial", "target": verb.target})
                self.call.note(self.carrier.clock.now(), "dial", target=verb.target)
                return None
        return None

    async def prompt(self, verb: Say | Play | Pause, url: str) -> None:
        now = self.carrier.clock.now().isoformat()
        if isinstance(verb, Say):
            for _ in range(max(1, verb.loop)):
                self.call.transcript.append(
                    {
                        "verb": "Say",
                        "text": verb.text,
                        "language": verb.language,
                        "voice": verb.voice,
                        "at": now,
                    }
                )
                await self.spend(max(0.5, len(verb.text.split()) / SPOKEN_WORDS_PER_S))
        elif isinstance(verb, Play):
            if verb.digits is not None:
                self.call.transcript.append({"verb": "Play", "digits": verb.digits, "at": now})
                return
            audio_url = urljoin(url, verb.url)
            seconds, text, error = await self.carrier.fetch_audio(audio_url)
            entry: dict[str, Any] = {"verb": "Play", "url": audio_url, "text": text, "at": now}
            if error is not None:
                entry["error"] = error
            for _ in range(max(1, verb.loop)):
                self.call.transcript.append(entry)
                await self.spend(max(0.2, seconds))
        else:
            await self.spend(verb.length_s)

    def _answer_for_this_gather(self, verb: Gather) -> dict[str, str]:
        """What the far end does at this Gather: the persona's next entry, pressed or said.
        A `hangup` persona answers too, until its hang-up cuts in (a caller gone halfway)."""
        if self.persona.behaviour not in (Behaviour.HUMAN, Behaviour.HANGUP):
            return {}
        index = self.gathers
        self.gathers += 1
        pressed = self.persona.digits[index] if index < len(self.persona.digits) else ""
        if pressed and "dtmf" in verb.inputs:
            if verb.finish_on_key and verb.finish_on_key in pressed:
                pressed = pressed.split(verb.finish_on_key, 1)[0]
                finished_on_key = verb.finish_on_key
            else:
                finished_on_key = ""
            if verb.num_digits is not None:
                pressed = pressed[: verb.num_digits]
            answer = {"Digits": pressed}
            if finished_on_key:
                answer["FinishedOnKey"] = finished_on_key
            return answer
        said = self.persona.speech[index] if index < len(self.persona.speech) else ""
        if said and "speech" in verb.inputs:
            return {"SpeechResult": said, "Confidence": f"{self.persona.speech_confidence:.2f}"}
        return {}

    async def gather(self, verb: Gather, url: str) -> tuple[str, str, dict[str, str]] | None:
        answer = self._answer_for_this_gather(verb)
        if not (self.persona.barge_in and (answer.get("Digits") or answer.get("SpeechResult"))):
            for prompt in verb.prompts:
                await self.prompt(prompt, url)
        action = urljoin(url, verb.action) if verb.action else url
        if answer.get("Digits") or answer.get("SpeechResult"):
            digits = answer.get("Digits", "")
            await self.spend(0.5 * len(digits) + 0.4 * len(answer.get("SpeechResult", "").split()))
            if digits:
                self.call.digits_sent.append(digits)
            self.call.transcript.append({"verb": "Gather", **answer})
            return action, verb.method, answer
        await self.spend(verb.timeout_s)
        self.call.transcript.append({"verb": "Gather", "digits": ""})
        if verb.action_on_empty_result:
            return action, verb.method, {"Digits": ""}
        return None

    async def record(self, verb: Record, url: str) -> tuple[str, str, dict[str, str]] | None:
        """The far end speaks `record_s` at the tone, then presses a finish key, or falls
        silent until the timeout ends the recording; maxLength cuts it short. Nothing said:
        Twilio skips the action and goes on with the next verb. A hang-up mid-recording
        still posts the action, with Digits=hangup."""
        clock = self.carrier.clock
        action = urljoin(url, verb.action) if verb.action else url
        if verb.play_beep:
            await self.spend(BEEP_S)
        speaks = self.persona.behaviour in (Behaviour.HUMAN, Behaviour.HANGUP)
        said_s = min(self.persona.record_s if speaks else 0.0, verb.max_length_s)
        # Silence ends a recording after `timeout` (never, with 0: then only maxLength does).
        silence_s = verb.timeout_s if verb.timeout_s > 0 else verb.max_length_s
        key = "#" if "#" in verb.finish_on_key else verb.finish_on_key[:1]
        if said_s >= verb.max_length_s:
            length_s, ended_by, pressed = verb.max_length_s, "max_length", ""
        elif said_s > 0 and key:
            length_s, ended_by, pressed = said_s, "key", key
        else:
            length_s, ended_by, pressed = min(said_s + silence_s, verb.max_length_s), "silence", ""
        remaining_s = (self.deadline - clock.now()).total_seconds()
        if remaining_s <= length_s:
            await clock.sleep(max(0.0, remaining_s))
            self.call.note(clock.now(), "far_end_hangup")
            kept_s = min(max(0.0, remaining_s), said_s if verb.trim else length_s)
            if kept_s > 0:
                params = self._keep(kept_s, "hangup")
                params["Digits"] = "hangup"
                await self.carrier.post_after_hangup(self.call, action, verb.method, params)
            else:
                self._nothing_recorded("hangup")
            raise _CallEnded
        await clock.sleep(length_s)
        if said_s <= 0:
            self._nothing_recorded(ended_by)
            return None
        params = self._keep(said_s if verb.trim or ended_by != "silence" else length_s, ended_by)
        if pressed:
            self.call.digits_sent.append(pressed)
            params["Digits"] = pressed
        return action, verb.method, params

    def _keep(self, duration_s: float, ended_by: str) -> dict[str, str]:
        """The recording on the books and in the transcript; the action's parameters."""
        recording = self.carrier.keep_recording(self.call, duration_s)
        seconds = recording.whole_seconds
        now = self.carrier.clock.now()
        self.call.transcript.append(
            {
                "verb": "Record",
                "recording_sid": recording.sid,
                "recording_s": seconds,
                "ended_by": ended_by,
                "summary": f"a recording of {seconds} s was made",
                "at": now.isoformat(),
            }
        )
        self.call.note(now, "recording", sid=recording.sid, seconds=seconds, ended_by=ended_by)
        return {
            "RecordingUrl": self.carrier.recording_url(recording),
            "RecordingDuration": str(seconds),
            "RecordingSid": recording.sid,
        }

    def _nothing_recorded(self, ended_by: str) -> None:
        now = self.carrier.clock.now()
        self.call.transcript.append(
            {
                "verb": "Record",
                "recording_s": 0,
                "ended_by": ended_by,
                "summary": "nothing was recorded",
                "at": now.isoformat(),
            }
        )
        self.call.note(now, "recording_empty", ended_by=ended_by)


def _final_callback_unheard(call: CallRecord) -> bool:
    """The call's final callback was sent and no delivery of it was answered 2xx (one
    dropped on purpose, to test a lost callback, stays lost)."""
    finals = [entry for entry in call.callbacks if entry["event"] == "completed"]
    if not finals or any(entry.get("dropped") for entry in finals):
        return False
    return not any(
        200 <= delivery.get("http_status", 0) < 300
        for entry in finals
        for delivery in entry["deliveries"]
    )


def _audio_seconds(body: bytes) -> float:
    try:
        with wave.open(io.BytesIO(body)) as audio:
            frames: int = audio.getnframes()
            rate: int = audio.getframerate()
            return frames / float(rate)
    except (wave.Error, EOFError):
        return len(body) / 16000.0  # 8 kHz, 16-bit: a fair guess for anything else


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
