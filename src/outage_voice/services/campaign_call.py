"""Runs an answered campaign call's flow for one webhook: finds the call, steps the flow,
records what the customer chose, and hands the web layer only what they hear."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from outage_voice.domain.flows.actions import Action
from outage_voice.domain.flows.campaign_call import (
    CallEvent,
    CallMenuState,
    CampaignCall,
    CampaignCallFlow,
    Delivered,
    OptOut,
    StillOut,
)
from outage_voice.services.outbound import AnsweredCall


class AnsweredCalls(Protocol):
    async def answered(self, attempt_id: int) -> AnsweredCall | None: ...

    async def delivered(self, call: AnsweredCall) -> None: ...

    async def still_out(self, call: AnsweredCall, call_sid: str) -> None: ...

    async def opt_out(self, call: AnsweredCall) -> None: ...


Heard = list[Action[CallMenuState]]


class CampaignCallService:
    def __init__(self, *, flow: CampaignCallFlow, calls: AnsweredCalls) -> None:
        self._flow = flow
        self._calls = calls

    async def run(
        self,
        state: CallMenuState,
        event: Callable[[CampaignCall | None], CallEvent],
        call_sid: str,
    ) -> Heard:
        """`event` makes this webhook's event from the call (None: an attempt we don't know)."""
        answered = (
            None if state.attempt_id is None else await self._calls.answered(state.attempt_id)
        )
        call = None if answered is None else _flow_call(answered)
        heard: Heard = []
        for action in self._flow.step(state, event(call)).actions:
            if answered is not None and isinstance(action, Delivered):
                await self._calls.delivered(answered)
            elif answered is not None and isinstance(action, StillOut):
                await self._calls.still_out(answered, call_sid)
            elif answered is not None and isinstance(action, OptOut):
                await self._calls.opt_out(answered)
            elif not isinstance(action, Delivered | StillOut | OptOut):
                heard.append(action)
        return heard


def _flow_call(call: AnsweredCall) -> CampaignCall:
    return CampaignCall(
        kind=call.kind,
        message=call.message,
        voicemail=call.voicemail,
        language=call.catalog.language,
    )
