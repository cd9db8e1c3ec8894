"""What callers ask for on the outage line: reports, hazards, call-backs."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from outage_voice.domain.inbound_calls import ReportOutcome
from outage_voice.services.ports import Clock

__all__ = ["IvrService", "IvrStore", "ReportOutcome", "report_dedupe_key"]


class IvrStore(Protocol):
    async def active_outage_id(self, premise_id: str) -> int | None: ...

    async def add_report(
        self,
        *,
        kind: str,
        premise_id: str | None,
        account_number: str | None,
        outage_id: int | None,
        phone: str,
        call_sid: str,
        now: datetime,
        dedupe_key: str | None,
    ) -> bool:
        """True when this call's report was stored, False when an equal one already was."""
        ...

    async def call_has_report(self, call_sid: str, kind: str) -> bool: ...

    async def add_callback(
        self,
        *,
        phone: str,
        premise_id: str | None,
        account_number: str | None,
        outage_id: int | None,
        language: str,
        call_sid: str,
        now: datetime,
    ) -> None: ...


def report_dedupe_key(
    *, premise_id: str | None, outage_id: int | None, phone: str, now: datetime
) -> str:
    """One report per premise and outage; without an outage, one per premise (or number) a day."""
    day = now.date().isoformat()
    if premise_id is None:
        return f"outage:phone:{phone}:{day}"
    return (
        f"outage:{premise_id}:{outage_id}"
        if outage_id is not None
        else f"outage:{premise_id}:{day}"
    )


class IvrService:
    def __init__(self, store: IvrStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def _now_and_outage(self, premise_id: str | None) -> tuple[datetime, int | None]:
        """When, and which active outage (if any) covers the caller's premise."""
        outage_id = await self._store.active_outage_id(premise_id) if premise_id else None
        return self._clock.now(), outage_id

    async def report_outage(
        self, *, premise_id: str | None, account_number: str | None, phone: str, call_sid: str
    ) -> ReportOutcome:
        now, outage_id = await self._now_and_outage(premise_id)
        stored = await self._store.add_report(
            kind="outage",
            premise_id=premise_id,
            account_number=account_number,
            outage_id=outage_id,
            phone=phone,
            call_sid=call_sid,
            now=now,
            dedupe_key=report_dedupe_key(
                premise_id=premise_id, outage_id=outage_id, phone=phone, now=now
            ),
        )
        # A carrier retrying the same webhook must hear what the first attempt heard.
        if stored or await self._store.call_has_report(call_sid, "outage"):
            return ReportOutcome.RECORDED
        return ReportOutcome.ALREADY

    async def report_hazard(
        self, *, premise_id: str | None, account_number: str | None, phone: str, call_sid: str
    ) -> None:
        now, outage_id = await self._now_and_outage(premise_id)
        await self._store.add_report(
            kind="hazard",
            premise_id=premise_id,
            account_number=account_number,
            outage_id=outage_id,
            phone=phone,
            call_sid=call_sid,
            now=now,
            dedupe_key=None,
        )

    async def request_callback(
        self,
        *,
        premise_id: str | None,
        account_number: str | None,
        phone: str,
        language: str,
        call_sid: str,
    ) -> None:
        now, outage_id = await self._now_and_outage(premise_id)
        await self._store.add_callback(
            phone=phone,
            premise_id=premise_id,
            account_number=account_number,
            outage_id=outage_id,
            language=language,
            call_sid=call_sid,
            now=now,
        )
