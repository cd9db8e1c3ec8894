"""Outbound calls after they are placed: status callbacks, and what an answered call hears."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from outage_voice.domain.campaigns import (
    ENDING_STATUSES,
    KIND_MESSAGES,
    LOST,
    CampaignKind,
    EndingAttempt,
    Retryable,
    RetryRule,
    TargetEnd,
    after_call,
    call_outcome,
)
from outage_voice.domain.carrier_calls import CarrierCall
from outage_voice.domain.errors import NotFound
from outage_voice.domain.languages import pick_catalog
from outage_voice.domain.outages import CrewStatus, OutageRecord
from outage_voice.domain.planned import PlannedMessage, PlannedWork, message_key, planned_words
from outage_voice.domain.prompts import Catalog, Moment, Segment, Window, render
from outage_voice.services.campaign_ports import AttemptContext, OutboundStore, StillOutReport
from outage_voice.services.instruments import NO_INSTRUMENTS, Instruments
from outage_voice.services.lookup import LookupService
from outage_voice.services.outages import OutageService
from outage_voice.services.ports import Clock

logger = logging.getLogger(__name__)
MAX_ADDRESSES_SPOKEN = 3
CALL_NOT_FOUND = 20404  # Twilio's "resource not found", kept on a call settled as lost


@dataclass(frozen=True, kw_only=True, slots=True)
class AnsweredCall:
    attempt_id: int
    target_id: int
    phone: str
    kind: CampaignKind
    catalog: Catalog
    message: tuple[Segment, ...]
    voicemail: str
    outage_pk: int | None
    premise_id: str | None
    account_number: str | None
    campaign_id: int
    answers_call_backs: bool  # the campaign calls back those who asked the outage line
    # The ETR the message spoke (None: it said there is none, or spoke of no ETR at all).
    etr: datetime | None = None


# Messages that tell the customer where restoration stands: hearing one is recorded with
# the ETR it spoke, so the ETR rules know what each customer was told.
SPEAKS_OF_ETR = frozenset({CampaignKind.OUTAGE_ACK, CampaignKind.ETR_UPDATE})
# A campaign message variable: a call will follow when there is an ETR (the automation sets
# it when ETR updates are on), so a message without one may promise it.
ETR_FOLLOW_UP = "etr_follow_up"
# Campaign message variables of planned work (the schedule sets them from its row): which
# message, and "yes" for an all-clear made after the OMS said restored.
PLANNED_MESSAGE = "planned_message"
PLANNED_RESTORED = "restored"
CREW_LINES: Mapping[CrewStatus, str] = {
    CrewStatus.ON_SITE: "crew_on_site",
    CrewStatus.DISPATCHED: "crew_dispatched",
    CrewStatus.NONE: "crew_none",
}


class OutboundService:
    def __init__(
        self,
        store: OutboundStore,
        outages: OutageService,
        lookup: LookupService,
        clock: Clock,
        catalogs: Mapping[str, Catalog],
        *,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self._store = store
        self._instruments = instruments
        self._kinds: dict[int, CampaignKind] = {}
        self._outages = outages
        self._lookup = lookup
        self._clock = clock
        self._catalogs = catalogs
        self._retry: dict[int, dict[Retryable, RetryRule]] = {}

    async def status(
        self,
        attempt_id: int,
        *,
        status: str,
        sequence: int,
        call_sid: str | None,
        answered_by: str | None,
        error_code: int | None,
        duration_s: int | None,
        placed_as: tuple[int, int] | None = None,
    ) -> bool:
        """Applies one status callback; True when it moved the attempt forward. Duplicates,
        late and out-of-order copies change nothing. `placed_as`: the campaign and attempt
        number the call was placed with (its callback URL carries them), which spares a read."""
        now = self._clock.now()
        presumed = None
        if placed_as is not None:
            campaign_id, attempt_no = placed_as
            presumed = EndingAttempt(
                campaign_id=campaign_id,
                attempt_no=attempt_no,
                answered_by=answered_by,
                error_code=error_code,
            )

        decided: list[tuple[int, TargetEnd]] = []

        async def decide(ending: EndingAttempt) -> TargetEnd:
            outcome = call_outcome(status, ending.answered_by, ending.error_code)
            policy = await self._policy(ending.campaign_id)
            step = after_call(outcome, attempts=ending.attempt_no, retry=policy, now=now)
            decided.append((ending.campaign_id, TargetEnd(done=step.done, outcome=outcome)))
            return TargetEnd(
                done=step.done,
                outcome=step.outcome,
                retry_at=step.retry_at,
                phone_invalid=outcome == "invalid",
            )

        moved = await self._store.apply_status(
            attempt_id,
            status=status,
            sequence=sequence,
            call_sid=call_sid,
            answered_by=answered_by,
            error_code=error_code,
            duration_s=duration_s,
            final=status in ENDING_STATUSES,
            now=now,
            decide=decide,
            presumed=presumed,
        )
        if moved and decided:  # the decision the end was written with: the last one
            campaign_id, end = decided[-1]
            self._instruments.call_ended(
                self._kinds[campaign_id].value,
                end.outcome,
                answered=status == "completed",
                retry=not end.done,
            )
        return moved

    async def settled(self, attempt_id: int, call: CarrierCall) -> None:
        """The carrier's own record of a finished call, when its final callback was lost."""
        await self.status(
            attempt_id,
            status=call.status,
            sequence=0,
            call_sid=call.sid,
            answered_by=call.answered_by,
            error_code=None,
            duration_s=call.duration_s,
        )

    async def lost(self, attempt_id: int, call_sid: str) -> None:
        """The carrier no longer knows this call (it answered 404 to every lookup): it is
        over, unheard; its target follows the campaign's `failed` retry policy."""
        await self.status(
            attempt_id,
            status=LOST,
            sequence=0,
            call_sid=call_sid,
            answered_by=None,
            error_code=CALL_NOT_FOUND,
            duration_s=None,
        )

    async def refused(self, attempt_id: int, error_code: int | None) -> None:
        await self.status(
            attempt_id,
            status="failed",
            sequence=0,
            call_sid=None,
            answered_by=None,
            error_code=error_code,
            duration_s=None,
        )

    async def _policy(self, campaign_id: int) -> dict[Retryable, RetryRule]:
        policy = self._retry.get(campaign_id)
        if policy is None:
            row = await self._store.get(campaign_id)
            if row is None:
                raise NotFound("campaign", str(campaign_id))
            policy = self._retry[campaign_id] = dict(row.spec.retry)
            self._kinds[campaign_id] = row.kind
        return policy

    async def answered(self, attempt_id: int) -> AnsweredCall | None:
        context = await self._store.attempt(attempt_id)
        if context is None:
            return None
        now = self._clock.now()
        catalog = pick_catalog(self._catalogs, context.language)  # es-MX hears es
        kind = context.kind
        premise_ids = list(dict.fromkeys(context.premise_ids))
        addresses = []
        timezone = context.timezone
        for premise_id in premise_ids[:MAX_ADDRESSES_SPOKEN]:
            found = await self._lookup.by_premise(premise_id)
            if found.found:
                addresses.append(found.accounts[0].premise.service_address)
        joiner = " y " if catalog.language == "es" else " and "
        address = joiner.join(addresses) or (
            "su domicilio" if catalog.language == "es" else "your address"
        )
        if kind is CampaignKind.CUSTOM:
            message: tuple[Segment, ...] = (
                Segment(text=context.message.text or "", language=catalog.tts_language, key=None),
            )
        elif PLANNED_MESSAGE in context.message.variables:
            message = await self._planned(context, catalog, address, timezone, now)
        else:
            variables: dict[str, object] = {"address": address}
            follow_up = context.message.variables.get(ETR_FOLLOW_UP) == "yes"
            if kind is CampaignKind.OUTAGE_ACK:
                outage = await self._outages.get(context.outage_id or "")
                message, etr = acknowledgement(
                    catalog, outage, address, timezone, follow_up=follow_up, now=now
                )
                return self._call(context, kind, catalog, message, etr=etr)
            if kind in (CampaignKind.ETR_UPDATE, CampaignKind.PLANNED_NOTICE):
                outage = await self._outages.get(context.outage_id or "")
                if kind is CampaignKind.ETR_UPDATE and outage.etr is not None:
                    variables["etr"] = Moment(at=outage.etr, timezone=timezone)
                    message = render(catalog, context.message.key or "", variables, now=now)
                    return self._call(context, kind, catalog, message, etr=outage.etr)
                if kind is CampaignKind.ETR_UPDATE:
                    # "We will call you when we do" only when a call will follow: automatic
                    # ETR updates exist only while the rules send them.
                    if follow_up or context.automatic:
                        message = render(catalog, "etr_cleared", variables, now=now)
                    else:
                        message = render(catalog, "etr_unknown", {}, now=now)
                    return self._call(context, kind, catalog, message)
                starts = outage.starts_at or now
                ends = outage.ends_at or starts
                variables["window"] = Window(starts_at=starts, ends_at=ends, timezone=timezone)
            message = render(catalog, context.message.key or "", variables, now=now)
        return self._call(context, kind, catalog, message)

    async def _planned(
        self, context: AttemptContext, catalog: Catalog, address: str, timezone: str, now: datetime
    ) -> tuple[Segment, ...]:
        """A planned-work message: the work as the schedule saw it when the campaign was made
        (a move also speaks the day first told), in the customer's own zone."""
        variables = context.message.variables
        restored = variables.get(PLANNED_RESTORED) == "yes"
        message: PlannedMessage | None = None
        try:
            message = PlannedMessage(variables[PLANNED_MESSAGE])
            work = planned_work(variables, timezone)
            previous = planned_work(variables, timezone, previous=True)
            if work is None:
                raise ValueError("no starts_at")
        except (KeyError, ValueError) as error:
            # A call still says what it is about: from the outage's hours as the OMS holds them.
            logger.warning(
                "campaign %s: unreadable planned-work details (%s): the outage's hours are spoken",
                context.campaign_id,
                error,
            )
            outage = await self._outages.get(context.outage_id or "")
            starts = outage.starts_at or now
            ends = outage.ends_at if outage.ends_at and outage.ends_at > starts else starts
            if message is not None and ends > starts:
                work = PlannedWork(starts_at=starts, ends_at=ends, timezone=timezone)
                return planned_words(
                    catalog, message, work, address=address, timezone=timezone, now=now
                )
            window = Window(starts_at=starts, ends_at=ends, timezone=timezone)
            key = (
                message_key(PlannedMessage.ALL_CLEAR, restored=restored)
                if context.kind is CampaignKind.RESTORATION
                else KIND_MESSAGES[CampaignKind.PLANNED_NOTICE]
            )
            return render(catalog, key, {"address": address, "window": window}, now=now)
        return planned_words(
            catalog,
            message,
            work,
            address=address,
            timezone=timezone,
            now=now,
            previous=previous,
            restored=restored,
        )

    def _call(
        self,
        context: AttemptContext,
        kind: CampaignKind,
        catalog: Catalog,
        message: tuple[Segment, ...],
        *,
        etr: datetime | None = None,
    ) -> AnsweredCall:
        return AnsweredCall(
            attempt_id=context.id,
            target_id=context.target_id,
            phone=context.phone,
            kind=kind,
            catalog=catalog,
            message=message,
            voicemail=context.voicemail,
            outage_pk=context.outage_pk,
            premise_id=context.premise_ids[0] if context.premise_ids else None,
            account_number=context.account_numbers[0] if context.account_numbers else None,
            campaign_id=context.campaign_id,
            answers_call_backs=context.answers_call_backs,
            etr=etr,
        )

    async def delivered(self, call: AnsweredCall) -> None:
        """The message reached the customer or their voicemail: a call back they asked for is
        done, so the next call-back campaign for this outage does not call again; what it said
        of the ETR is kept, so the next ETR update does not repeat it."""
        now = self._clock.now()
        if call.answers_call_backs and call.outage_pk is not None:
            await self._store.fulfil_callbacks(call.outage_pk, call.phone, now)
        if call.kind in SPEAKS_OF_ETR:
            await self._store.heard(call.campaign_id, call.target_id, call.etr, now)

    async def still_out(self, call: AnsweredCall, call_sid: str) -> None:
        now = self._clock.now()
        report = StillOutReport(
            premise_id=call.premise_id,
            account_number=call.account_number,
            outage_pk=call.outage_pk,
            phone=call.phone,
            call_sid=call_sid,
            campaign_id=call.campaign_id,
            attempt_id=call.attempt_id,
        )
        await self._store.still_out(report, now)
        await self._store.set_outcome(call.campaign_id, call.target_id, "still_out", now)

    async def opt_out(self, call: AnsweredCall) -> None:
        now = self._clock.now()
        await self._store.opt_out(call.phone, now)
        await self._store.set_outcome(call.campaign_id, call.target_id, "opted_out", now)


def acknowledgement(
    catalog: Catalog,
    outage: OutageRecord,
    address: str,
    timezone: str,
    *,
    follow_up: bool,
    now: datetime,
) -> tuple[tuple[Segment, ...], datetime | None]:
    """What an acknowledgement call says of the outage as it is when answered: we know, the
    cause, the crew, and the ETR, or, with none, that we will call with one (only when a
    call will follow) or that there is none yet; with the ETR spoken (None: none was)."""
    segments = list(render(catalog, "outage_acknowledged", {"address": address}, now=now))
    cause = catalog.cause_words(outage.cause) if outage.cause else None
    if cause:
        segments += render(catalog, "cause", {"cause": cause}, now=now)
    segments += render(catalog, CREW_LINES[outage.crew_status], {}, now=now)
    if outage.etr is not None:
        moment = Moment(at=outage.etr, timezone=timezone)
        segments += render(catalog, "etr_known", {"etr": moment}, now=now)
    else:
        segments += render(
            catalog, "etr_will_call" if follow_up else "etr_unknown_short", {}, now=now
        )
    return tuple(segments), outage.etr


def planned_work(
    variables: Mapping[str, str], timezone: str, *, previous: bool = False
) -> PlannedWork | None:
    """The work a planned campaign's message variables describe (`previous`: as first told,
    for a move); None when they name none. Raises ValueError for a date-time that can't be
    read. Only its instants are spoken, so the zone given is the customer's."""
    prefix = "previous_" if previous else ""
    starts = variables.get(f"{prefix}starts_at") or ""
    if not starts:
        return None
    alternate = "" if previous else variables.get("alternate_starts_at") or ""
    return PlannedWork(
        starts_at=datetime.fromisoformat(starts),
        ends_at=datetime.fromisoformat(variables[f"{prefix}ends_at"]),
        timezone=timezone,
        alternate_starts_at=datetime.fromisoformat(alternate) if alternate else None,
    )
