"""Campaigns the automation starts, in PostgreSQL: planned in pieces, appended to,
withdrawn from.

An automatic campaign is an ordinary campaign, running from the moment it is made. Its first
numbers (those at a few hundred of the outage's premises) are written with the campaign row
and committed at once, so the dialer calls while the rest, a million numbers perhaps, are
written in one more transaction (`plan_rest`). Until they are, the campaign is `planning`
and the dialer does not finish it. Writes of targets to one campaign are serialized by an
advisory lock and each commits before the next begins: the dialer claims never-tried targets
in key order from where its last claim stopped, which is only right if a later write's keys
are all higher than an earlier one's.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from outage_voice.adapters.db.campaign_admin import BUILD_TIMEOUT_S
from outage_voice.adapters.db.pool import Connection
from outage_voice.adapters.db.queries import q
from outage_voice.domain.automation import (
    ACKNOWLEDGING,
    PLANNED_TRIGGERS,
    AudienceRule,
    Trigger,
)
from outage_voice.domain.campaigns import CampaignState, spec_from_json
from outage_voice.domain.errors import Busy
from outage_voice.domain.planned import TELLING
from outage_voice.services.automation_ports import (
    NEW_OUTAGE,
    AutomaticPlan,
    PlanCounts,
    PlanStarted,
    ProposedMembership,
)

logger = logging.getLogger(__name__)

# The first key of the advisory lock every write of an automatic campaign's targets holds
# (the second is the campaign's id).
WRITE_LOCK_CLASS = 0x6F76_6177  # "ovaw"
CREATED_BY = "automation"
# After this many targets at once the claim's statistics are refreshed, as when a
# supervisor starts a campaign (campaign_targets_analyze).
ANALYZE_AFTER_TARGETS = 10_000
# How long a preview waits for an outage the OMS is writing (an integer: SET takes no
# parameters).
PREVIEW_LOCK_TIMEOUT_MS = 2000

_Written = Counter[tuple[str, str]]
# The triggers of planned-work messages that tell customers the work is coming: those they
# were placed to hear of a move or a cancellation.
TELLING_TRIGGERS = tuple(sorted(PLANNED_TRIGGERS[message].value for message in TELLING))
# Audiences written whole with the campaign row (a list of premises, or numbers already told).
_LISTED = frozenset({AudienceRule.REMOVED, AudienceRule.PREMISES, AudienceRule.TOLD})


class PgAutomaticCampaignStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def start(self, plan: AutomaticPlan, *, first_batch: int, now: datetime) -> PlanStarted:
        async with self._pool.acquire() as connection:
            async with connection.transaction():
                started, _ = await _start(
                    connection, plan, first_batch=first_batch, now=now, identified=True
                )
            if started.created:
                await connection.execute(q("campaign_notify"), str(started.campaign_id))
        return started

    async def plan_rest(self, campaign_id: int, plan: AutomaticPlan, *, now: datetime) -> int:
        async with self._pool.acquire() as connection:
            async with connection.transaction():
                written = await _plan_rest(connection, campaign_id, plan, now=now)
            total = written.total()
            if total >= ANALYZE_AFTER_TARGETS:
                await connection.execute(q("campaign_targets_analyze"))
            if total:
                await connection.execute(q("campaign_notify"), str(campaign_id))
        return total

    async def still_planning(self) -> list[tuple[int, AutomaticPlan]]:
        rows = await self._pool.fetch(q("auto_still_planning"))
        return [(row["id"], plan_of(row["spec"], row["automation_plan"])) for row in rows]

    async def append(
        self,
        outage_pk: int,
        premises: Sequence[str],
        feeders: Sequence[str],
        *,
        now: datetime,
        recent_since: datetime | None,
        dry_run: bool = False,
    ) -> tuple[int | None, int]:
        async with self._pool.acquire() as connection:
            found = await connection.fetchrow(
                q("auto_ack_campaign"), outage_pk, [trigger.value for trigger in ACKNOWLEDGING]
            )
            if found is None:
                return None, 0
            campaign_id: int = found["id"]
            if found["state"] == CampaignState.CANCELLED:
                return campaign_id, 0
            if dry_run:
                transaction = connection.transaction()
                await transaction.start()
                try:
                    written = await _append(
                        connection, campaign_id, outage_pk, premises, feeders, recent_since, now
                    )
                finally:
                    await transaction.rollback()
                return campaign_id, written.total()
            async with connection.transaction():
                # After any write in progress (the rest of the plan, written behind).
                await connection.execute(q("campaign_plan_lock"), WRITE_LOCK_CLASS, campaign_id)
                state = await connection.fetchrow(q("auto_campaign_state"), campaign_id)
                assert state is not None  # campaigns are never deleted
                if await connection.fetchval(q("auto_append_begin"), campaign_id, now) is None:
                    return campaign_id, 0  # cancelled meanwhile
            async with connection.transaction():
                await connection.execute(q("campaign_plan_lock"), WRITE_LOCK_CLASS, campaign_id)
                written = await _append(
                    connection, campaign_id, outage_pk, premises, feeders, recent_since, now
                )
                await connection.fetchval(
                    q("auto_append_done"),
                    campaign_id,
                    now,
                    written.total() > 0,
                    state["planning"],
                )
            if written.total():
                await connection.execute(q("campaign_notify"), str(campaign_id))
        return campaign_id, written.total()

    async def withdraw(
        self,
        outage_pk: int,
        *,
        reason: str,
        triggers: Sequence[Trigger],
        only_unaffected: bool,
        now: datetime,
        dry_run: bool = False,
        proposed: ProposedMembership | None = None,
    ) -> int:
        if proposed is not None and not dry_run:
            raise ValueError("a proposed membership is only ever counted")
        async with self._pool.acquire() as connection:
            transaction = connection.transaction()
            await transaction.start()
            try:
                if proposed is not None:
                    await _propose(connection, outage_pk, None, proposed, now)
                withdrawn = await _withdraw(
                    connection,
                    outage_pk,
                    reason=reason,
                    triggers=triggers,
                    only_unaffected=only_unaffected,
                    now=now,
                    dry_run=dry_run,
                )
            except BaseException:
                await transaction.rollback()
                raise
            if proposed is not None:
                await transaction.rollback()  # the outage as a preview proposed it is not kept
            else:
                await transaction.commit()
        return withdrawn

    async def count(
        self, plan: AutomaticPlan, *, now: datetime, proposed: ProposedMembership | None = None
    ) -> PlanCounts:
        """The statements `start` and `plan_rest` run, in one transaction rolled back, for a
        campaign that names no trigger (so no replayed event is found instead), earlier ETR
        updates' pending calls left as they are (a count must not hold the rows the dialer
        claims; the write leaves them out of `call_pending` either way)."""
        async with self._pool.acquire() as connection:
            transaction = connection.transaction()
            await transaction.start()
            try:
                if proposed is not None:
                    outage_pk = await _propose(
                        connection, plan.outage_pk, plan.spec.audience.outage_id, proposed, now
                    )
                    plan = dataclasses.replace(plan, outage_pk=outage_pk)
                # No first batch: everything is written as the rest is, in bulk.
                started, written = await _start(
                    connection, plan, first_batch=0, now=now, identified=False
                )
                written.update(
                    await _plan_rest(connection, started.campaign_id, plan, now=now, counting=True)
                )
            finally:
                await transaction.rollback()
        return PlanCounts(
            targets=sum(n for (state, _), n in written.items() if state == "pending"),
            excluded={outcome: n for (state, outcome), n in written.items() if state == "excluded"},
        )


async def _withdraw(
    connection: Connection,
    outage_pk: int,
    *,
    reason: str,
    triggers: Sequence[Trigger],
    only_unaffected: bool,
    now: datetime,
    dry_run: bool,
) -> int:
    """Pending targets of the outage's campaigns for `triggers` excluded with `reason`, in
    the caller's transaction; how many (would be, with `dry_run`)."""
    campaigns: list[int] = [
        row["id"]
        for row in await connection.fetch(
            q("auto_withdraw_campaigns"), outage_pk, [t.value for t in triggers]
        )
    ]
    if not campaigns:
        return 0
    if not dry_run:
        # A plan still writing would add pending calls after this took them back.
        for campaign_id in campaigns:
            await connection.execute(q("campaign_plan_lock"), WRITE_LOCK_CLASS, campaign_id)
        if not only_unaffected:
            # What a plan had left to write is withdrawn with the rest.
            await connection.execute(q("auto_stop_planning"), campaigns, now)
    if only_unaffected:
        withdrawn: int = await connection.fetchval(
            q("auto_withdraw"),
            campaigns,
            reason,
            now,
            not dry_run,
            outage_pk,
            timeout=BUILD_TIMEOUT_S,
        )
    else:
        withdrawn = await connection.fetchval(
            q("auto_withdraw_all"),
            campaigns,
            reason,
            now,
            not dry_run,
            timeout=BUILD_TIMEOUT_S,
        )
    return withdrawn


async def _propose(
    connection: Connection,
    outage_pk: int,
    oms_id: str | None,
    proposed: ProposedMembership,
    now: datetime,
) -> int:
    """The outage's premises and feeders as a preview proposes them, in the caller's
    transaction (which it rolls back); an outage not stored yet gets a row. Its pk."""
    # An OMS write to this outage's premises waits for these rows until the preview ends:
    # the preview gives way instead of making it wait, or itself waiting, long.
    await connection.execute(f"SET LOCAL lock_timeout = {PREVIEW_LOCK_TIMEOUT_MS}")
    try:
        if outage_pk == NEW_OUTAGE:
            # A name of its own: the OMS creating the outage meanwhile must not wait on it.
            name = f"{oms_id} (preview {uuid.uuid4().hex})"
            outage_pk = await connection.fetchval(q("auto_preview_outage"), name, now)
        await connection.execute(q("outage_premises_clear"), outage_pk)
        await connection.execute(q("outage_premises_add"), outage_pk, list(proposed.premises))
        await connection.execute(q("outage_feeders_clear"), outage_pk)
        await connection.execute(q("outage_feeders_add"), outage_pk, list(proposed.feeders))
    except asyncpg.LockNotAvailableError:
        outage = "the outage" if oms_id is None else f"outage {oms_id}"
        raise Busy(f"{outage} is being written by the OMS; preview it again") from None
    return outage_pk


def plan_json(plan: AutomaticPlan) -> dict[str, Any]:
    """What `automation_plan` keeps of a plan (its spec is the campaign's own)."""
    return {
        "outage_pk": plan.outage_pk,
        "trigger": plan.trigger.value,
        "event_id": plan.event_id,
        "audience": plan.audience.value,
        "premises": list(plan.premises),
        "feeders": list(plan.feeders),
        "recent_since": _iso(plan.recent_since),
        "etr": _iso(plan.etr),
        "etr_min_change_s": plan.etr_min_change_s,
        "etr_gap_s": plan.etr_gap_s,
        "expires_at": _iso(plan.expires_at),
    }


def plan_of(spec: Mapping[str, Any], raw: Mapping[str, Any]) -> AutomaticPlan:
    return AutomaticPlan(
        spec=spec_from_json(spec),
        outage_pk=int(raw["outage_pk"]),
        trigger=Trigger(raw["trigger"]),
        event_id=int(raw["event_id"]),
        audience=AudienceRule(raw["audience"]),
        premises=tuple(raw.get("premises") or ()),
        feeders=tuple(raw.get("feeders") or ()),
        recent_since=_datetime(raw.get("recent_since")),
        etr=_datetime(raw.get("etr")),
        etr_min_change_s=int(raw.get("etr_min_change_s") or 0),
        etr_gap_s=int(raw.get("etr_gap_s") or 0),
        expires_at=_datetime(raw.get("expires_at")),
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _datetime(raw: object) -> datetime | None:
    return None if raw is None else datetime.fromisoformat(str(raw))


async def _start(
    connection: Connection,
    plan: AutomaticPlan,
    *,
    first_batch: int,
    now: datetime,
    identified: bool,
) -> tuple[PlanStarted, _Written]:
    """The campaign row and its first batch, in the caller's transaction. `identified`
    false: a campaign that names no trigger (the count's)."""
    spec = plan.spec
    etr_update = plan.trigger is Trigger.ETR_CHANGED
    await connection.execute(q("auto_custom_plans"))
    earlier: list[int] = []
    if etr_update and identified:
        # Key order, as every holder of several of these locks takes them; this campaign's
        # own is not needed: no one sees it before this commits.
        earlier = [
            row["id"] for row in await connection.fetch(q("auto_etr_planning"), plan.outage_pk)
        ]
        for campaign_id in earlier:
            await connection.execute(q("campaign_plan_lock"), WRITE_LOCK_CLASS, campaign_id)
    campaign_id = await connection.fetchval(
        q("auto_campaign_insert"),
        spec.name,
        spec.kind.value,
        spec.as_json(),
        plan.outage_pk,
        spec.cps,
        spec.max_concurrent,
        spec.window.opens,
        spec.window.closes,
        spec.urgent,
        spec.priority,
        spec.starts_at,
        CREATED_BY,
        now,
        plan.trigger.value,
        plan.event_id if identified else None,
        plan_json(plan),
        plan.expires_at,
    )
    if campaign_id is None:
        found = await connection.fetchrow(
            q("auto_campaign_found"), plan.event_id, plan.trigger.value
        )
        assert found is not None  # the conflict was with this row
        started = PlanStarted(
            campaign_id=found["id"],
            created=False,
            targets=found["targets"],
            planning=found["planning"],
        )
        return started, Counter()
    if etr_update and identified:
        await connection.execute(q("auto_stop_planning"), earlier, now)
    await connection.execute(q("auto_candidates_create"))
    complete = True
    if plan.audience in _LISTED:
        await _fill_listed(connection, campaign_id, plan)
    else:
        filled = await connection.fetchrow(q("auto_fill_outage_first"), plan.outage_pk, first_batch)
        assert filled is not None  # an aggregate always returns its row
        await _drop_told(connection, plan)
        # Fewer premises than asked for: the outage had no more. The all-clear's audience
        # also has numbers told before that the outage no longer names: written with the rest.
        complete = (
            filled["premises"] < first_batch
            and plan.audience is AudienceRule.OUTAGE
            and plan.trigger is not Trigger.PLANNED_ALL_CLEAR
        )
    if etr_update and identified:
        await connection.execute(
            q("auto_supersede"), plan.outage_pk, campaign_id, now, not complete
        )
    written = await _write(connection, campaign_id, plan, now)
    if complete:
        await connection.execute(q("auto_campaign_planned"), campaign_id, now)
    started = PlanStarted(
        campaign_id=campaign_id, created=True, targets=written.total(), planning=not complete
    )
    return started, written


async def _drop_told(connection: Connection, plan: AutomaticPlan) -> None:
    """UNTOLD: the outage's numbers less those a telling message of the work reached, by the
    same rule as TOLD."""
    if plan.audience is AudienceRule.UNTOLD:
        await connection.execute(
            q("auto_drop_told_planned"),
            plan.outage_pk,
            list(TELLING_TRIGGERS),
            timeout=BUILD_TIMEOUT_S,
        )


async def _fill_listed(connection: Connection, campaign_id: int, plan: AutomaticPlan) -> None:
    """auto_candidates for an audience written whole: premises and feeders named (those
    taken off an outage, those added to planned work), or numbers told of planned work."""
    if plan.audience is AudienceRule.TOLD:
        await connection.execute(
            q("auto_fill_told_planned"),
            plan.outage_pk,
            list(TELLING_TRIGGERS),
            timeout=BUILD_TIMEOUT_S,
        )
        return
    await connection.execute(q("auto_fill_premises"), list(plan.premises), list(plan.feeders))
    if plan.audience is AudienceRule.REMOVED:
        await connection.execute(
            q("auto_keep_told"), plan.outage_pk, campaign_id, timeout=BUILD_TIMEOUT_S
        )


async def _plan_rest(
    connection: Connection,
    campaign_id: int,
    plan: AutomaticPlan,
    *,
    now: datetime,
    counting: bool = False,
) -> _Written:
    """Everyone of the plan's audience the campaign lacks, in the caller's transaction, and
    its planning done. Nothing when it is done already (or was withdrawn). `counting`: no
    other campaign's targets are touched."""
    await connection.execute(q("campaign_plan_lock"), WRITE_LOCK_CLASS, campaign_id)
    state = await connection.fetchrow(q("auto_campaign_state"), campaign_id)
    if state is None or not state["planning"]:
        return Counter()
    if state["state"] != CampaignState.CANCELLED:
        await connection.execute(q("auto_custom_plans"))
        await connection.execute(q("campaign_build_memory"))
        await connection.execute(q("auto_candidates_create"))
        if plan.audience in _LISTED:
            await _fill_listed(connection, campaign_id, plan)
        else:
            await connection.execute(q("auto_fill_outage"), plan.outage_pk, timeout=BUILD_TIMEOUT_S)
            await _drop_told(connection, plan)
            # Planned work's all-clear also reaches those told of it whose premises the OMS
            # took off the work on restoration.
            if plan.audience is AudienceRule.ALL_CLEAR or plan.trigger is Trigger.PLANNED_ALL_CLEAR:
                await connection.execute(q("auto_candidates_analyze"))
                await connection.execute(
                    q("auto_fill_told"), plan.outage_pk, campaign_id, timeout=BUILD_TIMEOUT_S
                )
        if plan.trigger is Trigger.ETR_CHANGED and not counting:
            await connection.execute(
                q("auto_supersede"),
                plan.outage_pk,
                campaign_id,
                now,
                False,
                timeout=BUILD_TIMEOUT_S,
            )
        written = await _write(connection, campaign_id, plan, now)
    else:
        written = Counter()
    await connection.execute(q("auto_campaign_planned"), campaign_id, now)
    return written


async def _append(
    connection: Connection,
    campaign_id: int,
    outage_pk: int,
    premises: Sequence[str],
    feeders: Sequence[str],
    recent_since: datetime | None,
    now: datetime,
) -> _Written:
    await connection.execute(q("auto_custom_plans"))
    await connection.execute(q("auto_candidates_create"))
    await connection.execute(q("auto_fill_premises"), list(premises), list(feeders))
    return await _write_candidates(
        connection,
        campaign_id,
        outage_pk=outage_pk,
        now=now,
        recent_since=recent_since,
    )


async def _write(
    connection: Connection, campaign_id: int, plan: AutomaticPlan, now: datetime
) -> _Written:
    etr_update = plan.trigger is Trigger.ETR_CHANGED
    # The all-clear's rules (never told, cleared already, still out) for both its audiences.
    all_clear = plan.audience in (AudienceRule.ALL_CLEAR, AudienceRule.REMOVED)
    return await _write_candidates(
        connection,
        campaign_id,
        outage_pk=plan.outage_pk,
        now=now,
        recent_since=plan.recent_since,
        etr_update=etr_update,
        etr=plan.etr,
        etr_min_change_s=plan.etr_min_change_s,
        etr_gap_s=plan.etr_gap_s,
        all_clear=all_clear,
        removed=plan.audience is AudienceRule.REMOVED,
        removed_premises=plan.premises,
        removed_feeders=plan.feeders,
    )


async def _write_candidates(
    connection: Connection,
    campaign_id: int,
    *,
    outage_pk: int,
    now: datetime,
    recent_since: datetime | None = None,
    etr_update: bool = False,
    etr: datetime | None = None,
    etr_min_change_s: int = 0,
    etr_gap_s: int = 0,
    all_clear: bool = False,
    removed: bool = False,
    removed_premises: Sequence[str] = (),
    removed_feeders: Sequence[str] = (),
) -> _Written:
    """auto_candidates written as the campaign's targets (those it lacks), then dropped."""
    await connection.execute(q("auto_candidates_analyze"))
    rows = await connection.fetch(
        q("auto_targets_write"),
        campaign_id,
        outage_pk,
        now,
        recent_since,
        etr_update,
        etr,
        etr_min_change_s,
        etr_gap_s,
        all_clear,
        removed,
        list(removed_premises),
        list(removed_feeders),
        timeout=BUILD_TIMEOUT_S,
    )
    await connection.execute(q("auto_candidates_drop"))
    return Counter({(row["state"], row["outcome"]): row["targets"] for row in rows})
