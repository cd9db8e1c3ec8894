"""Surveys in PostgreSQL: the survey campaign and its audience, the calls it made with their
answers, stored definitions, and the call-back list."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from outage_voice.adapters.db.campaign_admin import BUILD_TIMEOUT_S
from outage_voice.adapters.db.pool import Connection
from outage_voice.adapters.db.queries import q
from outage_voice.domain.campaigns import CampaignSpec
from outage_voice.services.survey_ports import (
    SurveyAudience,
    SurveyCall,
    SurveyCallback,
    SurveyOutage,
    SurveyStarted,
)

# Held (for the transaction) by every write of a survey's audience: two surveys written at
# once (the leader's automatic one, a supervisor's send, for outages sharing numbers) would
# each miss the other's uncommitted targets and ask those numbers twice. Writes are rare, so
# they simply take turns.
SURVEY_AUDIENCE_LOCK_KEY = 0x6F76_7376  # "ovsv"


class PgSurveyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def outage_by_pk(self, outage_pk: int) -> SurveyOutage | None:
        row = await self._pool.fetchrow(q("survey_outage_by_pk"), outage_pk)
        return None if row is None else SurveyOutage(pk=row["id"], oms_id=row["oms_id"])

    async def outage(self, oms_id: str) -> SurveyOutage | None:
        row = await self._pool.fetchrow(q("survey_outage_by_oms_id"), oms_id)
        return None if row is None else SurveyOutage(pk=row["id"], oms_id=row["oms_id"])

    async def start(
        self,
        spec: CampaignSpec,
        audience: SurveyAudience,
        *,
        schedule_id: int | None,
        expires_at: datetime | None,
        actor: str,
        now: datetime,
    ) -> SurveyStarted:
        async with self._pool.acquire() as connection:
            async with connection.transaction():
                # Before anything is read: the write's snapshot must come after the lock.
                await connection.execute(q("survey_audience_lock"), SURVEY_AUDIENCE_LOCK_KEY)
                campaign_id = await connection.fetchval(
                    q("survey_campaign_insert"),
                    spec.name,
                    spec.as_json(),
                    audience.outage.pk,
                    spec.cps,
                    spec.max_concurrent,
                    spec.window.opens,
                    spec.window.closes,
                    spec.priority,
                    spec.starts_at,
                    actor,
                    now,
                    schedule_id is not None,
                    schedule_id,
                    expires_at,
                )
                created = campaign_id is not None
                if campaign_id is None:
                    campaign_id = await connection.fetchval(q("survey_campaign_found"), schedule_id)
                    assert campaign_id is not None  # the conflict was with this row
                    rows = await connection.fetch(q("survey_targets_counts"), campaign_id)
                else:
                    rows = await _write_audience(connection, campaign_id, audience, now)
            if created:
                await connection.execute(q("campaign_notify"), str(campaign_id))
        counts = {row["outcome"]: row["targets"] for row in rows}
        return SurveyStarted(
            campaign_id=campaign_id,
            created=created,
            targets=counts.pop("", 0),
            excluded=counts,
        )

    async def definition(self, survey_id: str) -> object | None:
        row = await self._pool.fetchrow(q("survey_definition"), survey_id)
        return None if row is None else row["definition"]

    async def definitions(self) -> list[tuple[str, object]]:
        rows = await self._pool.fetch(q("survey_definitions"))
        return [(row["id"], row["definition"]) for row in rows]

    async def save_definition(
        self, survey_id: str, definition: Mapping[str, Any], *, actor: str, now: datetime
    ) -> bool:
        created: bool = await self._pool.fetchval(
            q("survey_definition_put"), survey_id, dict(definition), now, actor
        )
        return created

    async def calls(self, *, survey_id: str | None, outage_id: str | None) -> list[SurveyCall]:
        rows = await self._pool.fetch(
            q("survey_calls"), survey_id, outage_id, timeout=BUILD_TIMEOUT_S
        )
        return [_call(row) for row in rows]

    async def callbacks(self, *, open_only: bool, limit: int) -> list[SurveyCallback]:
        rows = await self._pool.fetch(q("survey_callbacks_list"), open_only, limit)
        return [_callback(row) for row in rows]

    async def handle_callback(
        self, callback_id: int, *, actor: str, now: datetime
    ) -> SurveyCallback | None:
        row = await self._pool.fetchrow(q("survey_callback_handled"), callback_id, now, actor)
        return None if row is None else _callback(row)


def _call(row: asyncpg.Record) -> SurveyCall:
    answers: dict[str, Any] = row["answers"] or {}
    return SurveyCall(
        survey=row["survey"] or "",
        campaign_id=row["campaign_id"],
        outage_id=row["outage_id"],
        phone=row["phone"],
        account_numbers=tuple(row["account_numbers"]),
        language=row["language"],
        called_at=row["called_at"],
        answered=row["answered"],
        answers={key: int(value) for key, value in answers.items()},
        comment_s=row["comment_s"],
        callback=row["callback"],
    )


def _callback(row: asyncpg.Record) -> SurveyCallback:
    return SurveyCallback(
        id=row["id"],
        campaign_id=row["campaign_id"],
        outage_id=row["outage_id"],
        phone=row["phone"],
        account_numbers=tuple(row["account_numbers"]),
        requested_at=row["requested_at"],
        handled_at=row["handled_at"],
        handled_by=row["handled_by"],
    )


async def _write_audience(
    connection: Connection, campaign_id: int, audience: SurveyAudience, now: datetime
) -> list[asyncpg.Record]:
    """The automatic campaigns' audience (auto_fill_outage, then auto_fill_told: the two
    cannot drift apart), then the survey's own exclusions, written as the campaign's targets."""
    outage_pk = audience.outage.pk
    await connection.execute(q("campaign_build_memory"))
    await connection.execute(q("auto_candidates_create"))
    await connection.execute(q("auto_fill_outage"), outage_pk, timeout=BUILD_TIMEOUT_S)
    await connection.execute(q("survey_on_outage_mark"), timeout=BUILD_TIMEOUT_S)
    await connection.execute(q("auto_candidates_analyze"))
    await connection.execute(q("auto_fill_told"), outage_pk, campaign_id, timeout=BUILD_TIMEOUT_S)
    await connection.execute(q("auto_candidates_analyze"))
    rows = await connection.fetch(
        q("survey_targets_write"),
        campaign_id,
        outage_pk,
        now,
        audience.gap_s,
        audience.share,
        audience.outage.oms_id,
        timeout=BUILD_TIMEOUT_S,
    )
    await connection.execute(q("survey_on_outage_drop"))
    await connection.execute(q("auto_candidates_drop"))
    return list(rows)
