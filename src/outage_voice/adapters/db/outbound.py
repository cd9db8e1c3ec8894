"""Campaign calls after they are placed, in PostgreSQL: status callbacks (an attempt's end
and its target's fate in one statement), and what a customer does on an answered call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from outage_voice.adapters.db.campaign_admin import campaign_of
from outage_voice.adapters.db.queries import q
from outage_voice.domain.campaign_records import AttemptContext, Campaign, StillOutReport
from outage_voice.domain.campaigns import (
    STATUS_RANK,
    CampaignKind,
    CampaignState,
    EndingAttempt,
    TargetEnd,
    message_from_json,
    moves_forward,
)

STATUS_ORDER = sorted(STATUS_RANK, key=lambda status: STATUS_RANK[status])


class PgOutboundStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, campaign_id: int) -> Campaign | None:
        row = await self._pool.fetchrow(q("campaign_get"), campaign_id)
        return None if row is None else campaign_of(row)

    async def apply_status(
        self,
        attempt_id: int,
        *,
        status: str,
        sequence: int,
        call_sid: str | None,
        answered_by: str | None,
        error_code: int | None,
        duration_s: int | None,
        final: bool,
        now: datetime,
        decide: Callable[[EndingAttempt], Awaitable[TargetEnd]] | None = None,
        presumed: EndingAttempt | None = None,
    ) -> bool:
        """Moves the attempt forward; True when this callback changed it. When it ends,
        `decide` says what becomes of its target, written in the same statement as the end.
        With `presumed` (what the callback's URL and form tell) the end is usually one
        statement; otherwise, or when the presumption was wrong, the attempt is read first."""
        if not final or decide is None:
            row = await self._pool.fetchrow(
                q("attempt_status"),
                attempt_id,
                status,
                sequence,
                call_sid,
                answered_by,
                error_code,
                duration_s,
                final,
                now,
                STATUS_ORDER,
            )
            return row is not None
        ending = presumed
        while True:
            if ending is None:
                seen = await self._pool.fetchrow(q("attempt_seen"), attempt_id)
                if seen is None or not moves_forward(seen["status"], status):
                    return False  # unknown, a duplicate, or late
                ending = EndingAttempt(
                    campaign_id=seen["campaign_id"],
                    attempt_no=seen["attempt_no"],
                    answered_by=answered_by or seen["answered_by"],
                    error_code=error_code if error_code is not None else seen["error_code"],
                )
            end = await decide(ending)
            row = await self._pool.fetchrow(
                q("attempt_end"),
                attempt_id,
                status,
                sequence,
                call_sid,
                answered_by,
                error_code,
                duration_s,
                now,
                STATUS_ORDER,
                ending.campaign_id,
                ending.attempt_no,
                ending.answered_by,
                ending.error_code,
                end.done,
                end.outcome,
                end.retry_at,
                end.phone_invalid,
            )
            if row is not None:
                return True
            ending = None  # read what the attempt is now, and decide again

    async def attempt(self, attempt_id: int) -> AttemptContext | None:
        row = await self._pool.fetchrow(q("attempt_context"), attempt_id)
        if row is None:
            return None
        return AttemptContext(
            id=row["id"],
            target_id=row["target_id"],
            campaign_id=row["campaign_id"],
            phone=row["phone"],
            attempt_no=row["attempt_no"],
            answered_by=row["answered_by"],
            account_numbers=tuple(row["account_numbers"] or ()),
            premise_ids=tuple(row["premise_ids"] or ()),
            language=row["language"],
            timezone=row["timezone"],
            outcome=row["outcome"],
            kind=CampaignKind(row["kind"]),
            message=message_from_json(row["message"] or {}),
            voicemail=row["voicemail"] or "message",
            outage_id=row["outage_oms_id"],
            answers_call_backs=row["callback_requests"],
            outage_pk=row["outage_id"],
            campaign_state=CampaignState(row["campaign_state"]),
            automatic=row["automatic"],
        )

    async def set_outcome(
        self, campaign_id: int, target_id: int, outcome: str, now: datetime
    ) -> None:
        await self._pool.execute(q("target_outcome"), campaign_id, target_id, outcome, now)

    async def heard(
        self, campaign_id: int, target_id: int, etr: datetime | None, now: datetime
    ) -> None:
        await self._pool.execute(q("target_heard"), campaign_id, target_id, etr, now)

    async def opt_out(self, phone: str, now: datetime) -> None:
        await self._pool.execute(q("phone_opt_out"), phone, now)

    async def fulfil_callbacks(self, outage_pk: int, phone: str, now: datetime) -> None:
        await self._pool.execute(q("callbacks_fulfil"), outage_pk, phone, now)

    async def still_out(self, report: StillOutReport, now: datetime) -> None:
        await self._pool.execute(
            q("still_out_report"),
            report.premise_id,
            report.account_number,
            report.outage_pk,
            report.phone,
            report.call_sid,
            {"campaign_id": report.campaign_id, "attempt_id": report.attempt_id},
            now,
        )
