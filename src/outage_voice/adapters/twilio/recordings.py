"""A call recording's audio from the carrier: GET its RecordingUrl with the account's SID
and Auth Token (HTTP basic auth), as Twilio asks when media access is protected."""

from __future__ import annotations

import base64

import aiohttp

from outage_voice.services.survey_call import RecordingAudio, RecordingUnavailable

FETCH_TIMEOUT_S = 20.0
# A minute of 8 kHz 16-bit audio is under a megabyte; a body far larger is not a comment.
MAX_RECORDING_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
DEFAULT_CONTENT_TYPE = "audio/x-wav"


class CarrierRecordings:
    def __init__(
        self, *, account_sid: str, auth_token: str, timeout_s: float = FETCH_TIMEOUT_S
    ) -> None:
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._headers = {"Authorization": f"Basic {credentials}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, url: str) -> RecordingAudio:
        if not url.startswith(("https://", "http://")):
            raise RecordingUnavailable("the recording URL is not an http(s) URL")
        if self._session is None:  # made inside the running loop, on first use
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(url, headers=self._headers) as response:
                if response.status != 200:
                    raise RecordingUnavailable(f"the carrier answered HTTP {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    body += chunk
                    if len(body) > MAX_RECORDING_BYTES:
                        raise RecordingUnavailable("the recording is larger than any comment")
                content_type = response.content_type or DEFAULT_CONTENT_TYPE
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RecordingUnavailable(f"the carrier could not be reached: {exc!r}") from exc
        if not body:
            raise RecordingUnavailable("the recording is empty")
        return RecordingAudio(audio=bytes(body), content_type=content_type)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
