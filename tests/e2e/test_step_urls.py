"""A step's URL, edited or junk, gets a re-prompt or a polite goodbye, never a server error;
a URL the carrier did not sign is refused before any step runs."""

from __future__ import annotations

import aiohttp
import pytest

from outage_voice.adapters.twilio.signature import compute_signature
from outage_voice.config import VIRTUAL_AUTH_TOKEN
from tests.e2e.test_outage_line import Line, line, line_settings

__all__ = ["line", "line_settings"]  # fixtures, used by name


async def _post(
    url: str, params: dict[str, str], *, signed_for: str | None = None
) -> tuple[int, str]:
    signature = compute_signature(VIRTUAL_AUTH_TOKEN, signed_for or url, params)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as answer,
    ):
        return answer.status, await answer.text()


@pytest.mark.parametrize(
    ("path", "params", "ends_with"),
    [
        # Digits that are not ASCII digits ("²" passes str.isdigit, not int()).
        ("/twilio/outbound/menu?attempt=%C2%B2", {"Digits": "1"}, "<Hangup /></Response>"),
        ("/twilio/outbound?attempt=%C2%B2&repeat=%C2%B2", {}, "<Hangup /></Response>"),
        ("/twilio/outbound/menu?attempt=12&repeat=banana", {}, "<Hangup /></Response>"),
        ("/twilio/pick?lang=en&choice=", {"Digits": "1"}, "</Redirect></Response>"),
        ("/twilio/pick?lang=en&choice=%00", {"Digits": "1"}, "</Redirect></Response>"),
        ("/twilio/menu?lang=%00&premise=%00&account=" + "9" * 200, {}, "</Redirect></Response>"),
        ("/twilio/identify?lang=es-MX&try=99999", {"Digits": "12"}, "</Redirect></Response>"),
    ],
)
async def test_junk_in_a_step_url_is_answered(
    line: Line,
    path: str,
    params: dict[str, str],
    ends_with: str,
) -> None:
    status, body = await _post(f"{line.url}{path}", params)
    assert status == 200, body
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response>')
    assert body.endswith(ends_with)


async def test_a_premise_swapped_in_the_url_is_refused(line: Line) -> None:
    signed = f"{line.url}/twilio/menu?lang=en&premise=P1&account=1001"
    params = {"Digits": "1", "CallSid": "CA-swapped", "From": "+15125550100"}
    status, _ = await _post(signed.replace("P1", "P3"), params, signed_for=signed)
    assert status == 403
