"""Runs the outage line's flow for one webhook: steps it, does what it asks, feeds back the
answers, and hands the web layer only what the caller hears.

A database that is away never costs the caller the call: lookups that fail step the flow
with `StoreUnavailable` (what was about to be said is dropped for the high-volume message),
and reports and hazards are spooled to disk to be written later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from outage_voice.domain.flows.actions import Action
from outage_voice.domain.flows.outage_line import (
    CallbackTaken,
    CallStarted,
    Event,
    FindCaller,
    FindPremise,
    Found,
    LineAction,
    LineState,
    Note,
    OutageLine,
    RecordHazard,
    RecordReport,
    Reported,
    RequestCallback,
    StoreUnavailable,
)
from outage_voice.domain.inbound_calls import CallStep
from outage_voice.domain.phones import InvalidPhone, mask_phone
from outage_voice.domain.status import StatusLookup
from outage_voice.services.instruments import NO_INSTRUMENTS, Instruments
from outage_voice.services.ivr import IvrService
from outage_voice.services.ports import Clock

logger = logging.getLogger(__name__)
T = TypeVar("T")

LOOKUP_BUDGET_S = 2.0
# A step asks for at most one answered intent, and an answer leads to words, not another
# question, except a lookup that finds the database away: three rounds always suffice.
MAX_ROUNDS = 4
PHONE_DIGITS = 10


class Lookup(Protocol):
    async def by_phone(self, raw_phone: str) -> StatusLookup: ...

    async def by_account(self, account_number: str) -> StatusLookup: ...

    async def by_premise(self, premise_id: str) -> StatusLookup: ...


class Spool(Protocol):
    async def add(self, kind: str, **request: Any) -> None: ...


class CallNotes(Protocol):
    def step(self, step: CallStep) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class CallContext:
    call_sid: str
    caller: str  # the caller ID as the carrier gave it


Heard = list[Action[LineState]]


class OutageLineService:
    def __init__(
        self,
        *,
        line: OutageLine,
        lookup: Lookup,
        ivr: IvrService,
        spool: Spool,
        notes: CallNotes,
        clock: Clock,
        unavailable: Callable[[BaseException], bool],
        budget_s: float = LOOKUP_BUDGET_S,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self._line = line
        self._instruments = instruments
        self._lookup = lookup
        self._ivr = ivr
        self._spool = spool
        self._notes = notes
        self._clock = clock
        self._unavailable = unavailable
        self._budget_s = budget_s

    @property
    def line(self) -> OutageLine:
        return self._line

    async def start(self, call: CallContext) -> Heard:
        """A call arrives: look the caller up by caller ID, then step."""
        event: Event
        try:
            event = CallStarted(lookup=await self._by_caller_id(call.caller))
        except Exception as exc:
            if not self._unavailable(exc):
                raise
            logger.warning("status lookup unavailable for %s: %r", mask_phone(call.caller), exc)
            event = StoreUnavailable()
        return await self.run(LineState(), event, call)

    async def run(self, state: LineState, event: Event, call: CallContext) -> Heard:
        now = self._clock.now()
        heard: Heard = []
        for _ in range(MAX_ROUNDS):
            if isinstance(event, StoreUnavailable):
                self._instruments.degraded_answer("lookup")
            step = self._line.step(state, event, now=now)
            state = step.state
            answer: Event | None = None
            for action in step.actions:
                answer = await self._do(action, call, now, heard)
                if answer is not None:
                    break  # an answered intent ends its step
            if answer is None:
                return heard
            if isinstance(answer, StoreUnavailable):
                heard.clear()  # what was about to be said gives way to the high-volume message
            event = answer
        raise RuntimeError("the outage line's flow did not settle")

    async def _do(
        self, action: LineAction, call: CallContext, now: datetime, heard: Heard
    ) -> Event | None:
        if isinstance(action, Note):
            self._note(action, call, now)
        elif isinstance(action, RecordHazard):
            await self._write_or_spool("hazard", self._ivr.report_hazard, **_who(action, call))
        elif isinstance(action, FindCaller | FindPremise | RecordReport | RequestCallback):
            try:
                return await self._answer(action, call)
            except Exception as exc:
                if not self._unavailable(exc):
                    raise
                logger.warning("database unavailable on the outage line: %r", exc)
                return StoreUnavailable()
        else:
            heard.append(action)
        return None

    async def _answer(
        self, intent: FindCaller | FindPremise | RecordReport | RequestCallback, call: CallContext
    ) -> Event:
        if isinstance(intent, FindCaller):
            async with asyncio.timeout(self._budget_s):
                return Found(lookup=await self._find(intent.entered))
        if isinstance(intent, FindPremise):
            async with asyncio.timeout(self._budget_s):
                return Found(lookup=await self._lookup.by_premise(intent.premise_id))
        if isinstance(intent, RecordReport):
            outcome = await self._write_or_spool(
                "outage", self._ivr.report_outage, **_who(intent, call)
            )
            address = await self._address(intent.premise_id) if outcome is not None else None
            return Reported(outcome=outcome, address=address)
        await self._ivr.request_callback(
            premise_id=intent.premise_id,
            account_number=intent.account_number,
            phone=call.caller,
            language=intent.language,
            call_sid=call.call_sid,
        )
        return CallbackTaken(phone=call.caller, address=await self._address(intent.premise_id))

    async def _by_caller_id(self, caller: str) -> StatusLookup | None:
        try:
            async with asyncio.timeout(self._budget_s):
                return await self._lookup.by_phone(caller)
        except InvalidPhone:
            return None

    async def _find(self, entered: str) -> StatusLookup:
        """Ten digits are tried as a phone number first, anything else as an account number."""
        if len(entered) == PHONE_DIGITS:
            with contextlib.suppress(InvalidPhone):
                by_phone = await self._lookup.by_phone(entered)
                if by_phone.found:
                    return by_phone
        return await self._lookup.by_account(entered)

    async def _address(self, premise_id: str | None) -> str | None:
        if not premise_id:
            return None
        try:
            async with asyncio.timeout(self._budget_s):
                found = await self._lookup.by_premise(premise_id)
        except Exception as exc:
            if not self._unavailable(exc):
                raise
            return None
        return found.accounts[0].premise.service_address if found.found else None

    async def _write_or_spool(
        self, kind: str, write: Callable[..., Awaitable[T]], **fields: Any
    ) -> T | None:
        """Writes the caller's request now, or, with the database away, spools it to local
        disk to be replayed later (None). Either way nothing the caller asked for is lost."""
        try:
            async with asyncio.timeout(self._budget_s):
                return await write(**fields)
        except Exception as exc:
            if not self._unavailable(exc):
                raise
            await self._spool.add(kind, **fields)
            logger.warning(
                "database away: spooled a %s request from %s", kind, mask_phone(fields["phone"])
            )
            return None

    def _note(self, note: Note, call: CallContext, now: datetime) -> None:
        """Records a step of this call for containment reporting (written in the background)."""
        if not call.call_sid:
            return
        account = note.account
        self._notes.step(
            CallStep(
                call_sid=call.call_sid,
                caller=call.caller,
                at=now,
                step=note.step,
                outcome=note.outcome,
                account_number=account.account_number if account else None,
                premise_id=account.premise.premise_id if account else None,
                language=note.language,
            )
        )


def _who(intent: RecordReport | RecordHazard, call: CallContext) -> dict[str, Any]:
    return {
        "premise_id": intent.premise_id,
        "account_number": intent.account_number,
        "phone": call.caller,
        "call_sid": call.call_sid,
    }
