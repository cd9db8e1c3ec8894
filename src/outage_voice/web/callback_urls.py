"""The URLs a placed campaign call's carrier requests go to, at this server's public URL:
`/twilio/outbound` when answered (`/twilio/survey` for a survey), `/twilio/status` for its
status callbacks."""

from __future__ import annotations

from urllib.parse import urlencode

from outage_voice.domain.campaign_records import CallUrls, ClaimedAttempt
from outage_voice.domain.campaigns import CampaignKind


class CampaignCallUrls:
    """Each names its attempt; the status callback also the campaign and attempt number the
    call was placed with, which spares a read when the call ends."""

    def __init__(self, public_url: str) -> None:
        self._base = public_url

    def __call__(
        self, attempt: ClaimedAttempt, *, campaign_id: int, kind: CampaignKind
    ) -> CallUrls:
        status = {"attempt": attempt.id, "campaign": campaign_id, "attempt_no": attempt.attempt_no}
        answer = "/twilio/survey" if kind is CampaignKind.SURVEY else "/twilio/outbound"
        return CallUrls(
            answer=f"{self._base}{answer}?{urlencode({'attempt': attempt.id})}",
            status=f"{self._base}/twilio/status?{urlencode(status)}",
        )
