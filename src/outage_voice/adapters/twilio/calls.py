"""Placing and finding calls through the `twilio` package (Twilio or a compatible carrier,
such as the virtual one). Call creation is never retried here: a retried POST can place a
second call, so an unclear answer is reported as such and settled by looking the call up."""

from __future__ import annotations

import logging
from datetime import datetime

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.rest.api.v2010.account.call import CallInstance

from outage_voice.adapters.twilio.http import LeanAsyncHttpClient
from outage_voice.domain.carrier_calls import CarrierCall
from outage_voice.domain.phones import mask_phone
from outage_voice.services.ports import (
    CarrierCallUnknown,
    CarrierRefused,
    CarrierThrottled,
    CarrierUnclear,
)

logger = logging.getLogger(__name__)
# An answer later than this is no answer: the call is then looked up, never created again.
REQUEST_TIMEOUT_S = 10.0
LIST_PAGE_SIZE = 50
CALL_NOT_FOUND = 20404


class TwilioCalls:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_url: str | None,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        # Made inside the running loop: its aiohttp session belongs to that loop.
        self._http = LeanAsyncHttpClient(timeout_s=request_timeout_s)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        if api_url:
            self._client.api.base_url = api_url

    async def close(self) -> None:
        if self._http.session is not None:
            await self._http.session.close()

    async def place(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        timeout_s: int,
        machine_detection: bool,
    ) -> str:
        options: dict[str, object] = {
            "to": to,
            "from_": from_,
            "url": url,
            "method": "POST",
            "status_callback": status_callback,
            "status_callback_method": "POST",
            # Answered and final are all the state machine needs; "initiated" and "ringing"
            # doubled the callbacks (and database writes) per call for no decision.
            "status_callback_event": ["answered", "completed"],
            "timeout": timeout_s,
        }
        if machine_detection:
            options["machine_detection"] = "DetectMessageEnd"
        try:
            call = await self._client.calls.create_async(**options)
        except TwilioRestException as exc:
            if exc.status == 429 or exc.code == 20429:
                raise CarrierThrottled() from None
            if exc.status is not None and 400 <= exc.status < 500:
                raise CarrierRefused(exc.code, str(exc.msg)) from None
            raise CarrierUnclear(f"HTTP {exc.status}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            logger.warning("placing a call to %s: no clear answer (%r)", mask_phone(to), exc)
            raise CarrierUnclear(repr(exc)) from None
        sid: str = call.sid
        return sid

    async def find(self, *, to: str, started_after: datetime) -> list[CarrierCall]:
        calls = await self._client.calls.list_async(
            to=to, start_time_after=started_after, page_size=LIST_PAGE_SIZE, limit=LIST_PAGE_SIZE
        )
        return [_carrier_call(call) for call in calls]

    async def fetch(self, sid: str) -> CarrierCall:
        try:
            call = await self._client.calls(sid).fetch_async()
        except TwilioRestException as exc:
            if exc.status == 404 or exc.code == CALL_NOT_FOUND:
                raise CarrierCallUnknown(sid) from None
            raise
        return _carrier_call(call)

    async def account_status(self) -> tuple[str, str]:
        """The account's friendly name and status (active, suspended, closed): an
        authenticated read that changes nothing. TwilioRestException when refused."""
        account = await self._client.api.v2010.accounts(self._client.account_sid).fetch_async()
        return str(account.friendly_name or ""), str(account.status or "")

    async def cancel(self, sid: str) -> None:
        try:
            # Twilio ends a call still queued or ringing; one answered, or over, is left as is.
            await self._client.calls(sid).update_async(status="canceled")
        except TwilioRestException as exc:
            if exc.status == 404 or exc.code == CALL_NOT_FOUND:
                raise CarrierCallUnknown(sid) from None
            raise


def _carrier_call(call: CallInstance) -> CarrierCall:
    return CarrierCall(
        sid=call.sid or "",
        to=call.to or "",
        from_=call._from or "",
        status=str(call.status or ""),
        answered_by=call.answered_by,
        duration_s=int(call.duration) if call.duration else None,
    )
