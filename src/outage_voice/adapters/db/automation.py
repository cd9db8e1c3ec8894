"""The automation's store in PostgreSQL: the outbox read side (the outage store writes it),
the per-outage state, the supervisor's rules, the decisions, and the notification ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from outage_voice.adapters.db.automatic_campaigns import TELLING_TRIGGERS
from outage_voice.adapters.db.pool import Connection
from outage_voice.adapters.db.queries import q
from outage_voice.adapters.db.schedule import SCHEDULE_LOCK_CLASS
from outage_voice.domain.automation import (
    PLANNED_TRIGGERS,
    AutomationRules,
    AutomationState,
    Decision,
    OutageChange,
    OutageFacts,
    Verdict,
    rules_from_json,
)
from outage_voice.domain.errors import NotFound
from outage_voice.domain.outages import OutageStatus
from outage_voice.services.automation_ports import (
    Ledger,
    LedgerCounts,
    LedgerDecision,
    LedgerLine,
    OutageEvent,
    ScheduleWrite,
)

# A telling message's campaign trigger -> the message (planned_sent answers messages).
_TELLING = {
    trigger.value: message.value
    for message, trigger in PLANNED_TRIGGERS.items()
    if trigger.value in TELLING_TRIGGERS
}

# The channel an outage change is announced on when its transaction commits (the outbox's
# wake-up for the automation worker; see sql/queries/outages.sql).
AUTOMATION_CHANNEL = "outage_voice_automation"


class PgAutomationStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def rules(self) -> AutomationRules:
        raw: dict[str, Any] | None = await self._pool.fetchval(q("automation_rules_get"))
        return rules_from_json(raw)

    async def save_rules(self, rules: AutomationRules, *, actor: str, now: datetime) -> None:
        document = rules.as_json()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(q("automation_rules_save"), document, now, actor)
            await conn.execute(
                q("audit_add"), now, actor, "automation.update", "automation", None, document
            )

    async def waiting_events(self, limit: int) -> list[OutageEvent]:
        rows = await self._pool.fetch(q("automation_events_waiting"), limit)
        return [
            OutageEvent(
                event_id=row["id"],
                outage_pk=row["outage_id"],
                outage_id=row["oms_id"],
                at=row["at"],
                change=OutageChange.from_json(row["change"]),
            )
            for row in rows
        ]

    async def state(self, outage_pk: int) -> AutomationState:
        return (await self.states([outage_pk]))[outage_pk]

    async def states(self, outage_pks: Sequence[int]) -> dict[int, AutomationState]:
        rows = await self._pool.fetch(q("automation_states_get"), list(outage_pks))
        found = {row["outage_id"]: AutomationState.from_json(row["state"]) for row in rows}
        return {pk: found.get(pk, AutomationState()) for pk in outage_pks}

    async def facts(self, outage_pk: int) -> OutageFacts | None:
        row = await self._pool.fetchrow(q("automation_outage_facts"), outage_pk)
        if row is None:
            return None
        return OutageFacts(
            status=OutageStatus(row["status"]), etr=row["etr"], planned=row["planned"]
        )

    async def outage_id(self, outage_pk: int) -> str:
        oms_id: str | None = await self._pool.fetchval(q("automation_outage_oms_id"), outage_pk)
        if oms_id is None:
            raise NotFound("outage", str(outage_pk))
        return oms_id

    async def consume(
        self,
        outage_pk: int,
        state: AutomationState,
        decisions: Sequence[LedgerDecision],
        *,
        event_id: int | None,
        now: datetime,
        schedule: ScheduleWrite | None = None,
    ) -> bool:
        if schedule is None or schedule.empty or event_id is None:
            return await self._consume(self._pool, outage_pk, state, decisions, event_id, now)
        async with self._pool.acquire() as conn, conn.transaction():
            if not await self._consume(conn, outage_pk, state, decisions, event_id, now):
                return False
            if schedule.withdraw:
                await conn.execute(
                    q("automation_schedule_withdraw"),
                    outage_pk,
                    list(schedule.withdraw),
                    schedule.reason,
                    now,
                )
            if schedule.alternate is not None:
                await conn.execute(
                    q("automation_schedule_alternate"), outage_pk, schedule.alternate
                )
            if schedule.add:
                rows = [
                    {
                        "message": row.message,
                        "audience": row.audience,
                        "premises": list(row.premises),
                        "feeders": list(row.feeders),
                        "due_at": row.due_at.isoformat(),
                        "window_open": row.window_open.isoformat(),
                        "window_close": row.window_close.isoformat(),
                        "details": dict(row.details),
                    }
                    for row in schedule.add
                ]
                await conn.execute(q("automation_schedule_add"), outage_pk, event_id, now, rows)
            return True

    async def planned_sent(self, outage_pk: int) -> frozenset[str]:
        rows = await self._pool.fetch(q("automation_planned_sent"), outage_pk)
        return frozenset(row["message"] for row in rows)

    async def planned_told(self, outage_pk: int) -> frozenset[str]:
        rows = await self._pool.fetch(
            q("automation_planned_told"), outage_pk, list(TELLING_TRIGGERS)
        )
        return frozenset(_TELLING[row["trigger_event"]] for row in rows)

    @asynccontextmanager
    async def planned_lock(self, outage_pk: int) -> AsyncIterator[None]:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(q("schedule_outage_lock"), SCHEDULE_LOCK_CLASS, outage_pk)
            yield

    @staticmethod
    async def _consume(
        conn: asyncpg.Pool | Connection,
        outage_pk: int,
        state: AutomationState,
        decisions: Sequence[LedgerDecision],
        event_id: int | None,
        now: datetime,
    ) -> bool:
        consumed: bool = await conn.fetchval(
            q("automation_consume"),
            event_id,
            outage_pk,
            now,
            state.as_json(),
            state.due_at(),
            [d.event_id for d in decisions],
            [d.at for d in decisions],
            [d.decision.event for d in decisions],
            [d.decision.verdict.value for d in decisions],
            [d.decision.reason for d in decisions],
            [d.campaign_id for d in decisions],
        )
        # False: consumed already (by this leader before a retry, or by the one before it):
        # its state and decisions are in, and were not written twice.
        return consumed

    async def due_outages(self, now: datetime, limit: int) -> list[int]:
        rows = await self._pool.fetch(q("automation_due_outages"), now, limit)
        return [row["outage_id"] for row in rows]

    async def next_due_at(self) -> datetime | None:
        due: datetime | None = await self._pool.fetchval(q("automation_next_due"))
        return due

    async def ledger(self, outage_id: str, *, account: str | None) -> Ledger | None:
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            # One snapshot: the counts, campaigns and lines agree with one another.
            outage_pk: int | None = await conn.fetchval(q("automation_ledger_outage"), outage_id)
            if outage_pk is None:
                return None
            count_rows = await conn.fetch(q("automation_ledger_counts"), outage_pk)
            campaign_rows = await conn.fetch(q("automation_ledger_campaigns"), outage_pk)
            decision_rows = await conn.fetch(q("automation_ledger_decisions"), outage_pk)
            line_rows = (
                []
                if account is None
                else await conn.fetch(q("automation_ledger_lines"), outage_pk, account)
            )
        return Ledger(
            outage_id=outage_id,
            counts=_ledger_counts(count_rows),
            campaigns=tuple(row["id"] for row in campaign_rows),
            decisions=tuple(
                LedgerDecision(
                    at=row["at"],
                    event_id=row["event_id"],
                    decision=Decision(
                        event=row["event"], verdict=Verdict(row["decision"]), reason=row["reason"]
                    ),
                    campaign_id=row["campaign_id"],
                )
                for row in decision_rows
            ),
            lines=tuple(
                LedgerLine(
                    trigger=row["trigger"],
                    campaign_id=row["campaign_id"],
                    phone=row["phone"],
                    account_numbers=tuple(row["account_numbers"]),
                    state=row["state"],
                    outcome=row["outcome"],
                    attempts=row["attempts"],
                    last_call_at=row["last_call_at"],
                    heard_at=row["heard_at"],
                    heard_etr=row["heard_etr"],
                )
                for row in line_rows
            ),
        )


def _ledger_counts(rows: Sequence[asyncpg.Record]) -> dict[str, LedgerCounts]:
    """Rows per (trigger, reason left out) folded into one line per trigger."""
    totals: dict[str, dict[str, int]] = {}
    skipped: dict[str, dict[str, int]] = {}
    for row in rows:
        trigger: str = row["trigger"]
        line = totals.setdefault(trigger, {"sent": 0, "reached": 0, "pending": 0})
        for name in line:
            line[name] += row[name]
        reasons = skipped.setdefault(trigger, {})
        if row["skipped"] is not None:
            reasons[row["skipped"]] = reasons.get(row["skipped"], 0) + row["excluded"]
    return {
        trigger: LedgerCounts(
            sent=line["sent"],
            reached=line["reached"],
            pending=line["pending"],
            skipped=dict(sorted(skipped[trigger].items())),
        )
        for trigger, line in sorted(totals.items())
    }
