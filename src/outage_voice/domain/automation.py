"""Outage lifecycle automation: what the OMS's changes to an outage make the product send.

Pure. The automation worker feeds each outage change (an outbox event) and each due moment
through `on_change` / `on_due` with the outage's `AutomationState`; they return the new
state and the actions to take (plan a campaign, append targets, withdraw pending calls) with
the decisions behind them, which are kept so a supervisor can see why something was, or was
not, sent. Every action carries the event it comes from, so replaying an event after a crash
asks for the same campaign again and finds it instead of making a second one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from outage_voice.domain.campaigns import (
    DEFAULT_WINDOW,
    CampaignKind,
    check_cps,
    check_max_concurrent,
    parse_window,
)
from outage_voice.domain.errors import InvalidField
from outage_voice.domain.outages import OutageState, OutageStatus
from outage_voice.domain.planned import (
    PlannedMessage,
    PlannedRules,
    merge_planned,
    planned_from_json,
)
from outage_voice.domain.rule_fields import (
    DAY_S,
)
from outage_voice.domain.rule_fields import (
    boolean as _boolean,
)
from outage_voice.domain.rule_fields import (
    is_number as _is_number,
)
from outage_voice.domain.rule_fields import (
    is_whole as _is_whole,
)
from outage_voice.domain.rule_fields import (
    json_object as _object,
)
from outage_voice.domain.rule_fields import (
    mapping as _mapping,
)
from outage_voice.domain.rule_fields import (
    seconds as _seconds,
)
from outage_voice.domain.rule_fields import (
    span as _span,
)
from outage_voice.domain.rule_fields import (
    stored_flag as _stored_flag,
)
from outage_voice.domain.rule_fields import (
    stored_whole as _stored_whole,
)
from outage_voice.domain.survey import SurveyRules, merge_survey_rules, survey_rules_from_json
from outage_voice.domain.windows import BadWindow, DailyWindow, parse_daily_window, utc_minute


class Trigger(StrEnum):
    """The events a campaign the automation creates is started by (DESIGN.md's names)."""

    CONFIRMED = "confirmed"
    CREW_DISPATCHED = "crew_dispatched"
    ETR_CHANGED = "etr_changed"
    RESTORED = "restored"
    # Planned work: one trigger per message, each a campaign of its own (named by the
    # schedule entry that made it) with its own pacing.
    PLANNED_NOTICE = "planned_notice"
    PLANNED_SHORT_NOTICE = "planned_short_notice"
    PLANNED_REMINDER = "planned_reminder"
    PLANNED_STARTING = "planned_starting"
    PLANNED_ALL_CLEAR = "planned_all_clear"
    PLANNED_MOVED = "planned_moved"
    PLANNED_CANCELLED = "planned_cancelled"
    # The survey after an outage (automatic, or a supervisor's on demand).
    SURVEY = "survey"


# The message each trigger sends.
TRIGGER_KINDS: Mapping[Trigger, CampaignKind] = {
    Trigger.CONFIRMED: CampaignKind.OUTAGE_ACK,
    Trigger.CREW_DISPATCHED: CampaignKind.OUTAGE_ACK,
    Trigger.ETR_CHANGED: CampaignKind.ETR_UPDATE,
    Trigger.RESTORED: CampaignKind.RESTORATION,
    Trigger.PLANNED_NOTICE: CampaignKind.PLANNED_NOTICE,
    Trigger.PLANNED_SHORT_NOTICE: CampaignKind.PLANNED_NOTICE,
    Trigger.PLANNED_REMINDER: CampaignKind.PLANNED_NOTICE,
    Trigger.PLANNED_STARTING: CampaignKind.PLANNED_NOTICE,
    # "If your power is still out, press 1": the restoration call's menu.
    Trigger.PLANNED_ALL_CLEAR: CampaignKind.RESTORATION,
    Trigger.PLANNED_MOVED: CampaignKind.PLANNED_NOTICE,
    Trigger.PLANNED_CANCELLED: CampaignKind.PLANNED_NOTICE,
    Trigger.SURVEY: CampaignKind.SURVEY,
}
# The trigger of each planned-work message's campaign.
PLANNED_TRIGGERS: Mapping[PlannedMessage, Trigger] = {
    PlannedMessage.NOTICE: Trigger.PLANNED_NOTICE,
    PlannedMessage.SHORT_NOTICE: Trigger.PLANNED_SHORT_NOTICE,
    PlannedMessage.REMINDER: Trigger.PLANNED_REMINDER,
    PlannedMessage.STARTING: Trigger.PLANNED_STARTING,
    PlannedMessage.ALL_CLEAR: Trigger.PLANNED_ALL_CLEAR,
    PlannedMessage.MOVED: Trigger.PLANNED_MOVED,
    PlannedMessage.CANCELLED: Trigger.PLANNED_CANCELLED,
}
ACKNOWLEDGING = frozenset({Trigger.CONFIRMED, Trigger.CREW_DISPATCHED})
# The campaigns telling customers of the outage itself (not that it is over for them).
NEWS_TRIGGERS = (Trigger.CONFIRMED, Trigger.CREW_DISPATCHED, Trigger.ETR_CHANGED)

# Why a customer was left out of an automatic campaign, or had a pending call withdrawn:
# the `outcome` of an excluded target, and the ledger's skip reasons.
RECENT_CALLER = "recent_caller"  # called the outage line or reported this outage lately
RESTORED_FIRST = "restored_first"  # power came back before the call went out
OUTAGE_CANCELLED = "outage_cancelled"
NO_LONGER_AFFECTED = "no_longer_affected"  # the OMS took their premise off the outage
ALREADY_HEARD = "already_heard"  # their last call already spoke this ETR (within the threshold)
CALL_PENDING = "call_pending"  # a call not yet made will speak the latest ETR anyway
NOT_TOLD = "not_told"  # all-clear: never heard of the outage (their call was withdrawn)
ALREADY_CLEARED = "already_cleared"  # all-clear: had it already (a partial restoration)
ELSEWHERE = "still_out_elsewhere"  # all-clear: their premise is on another active outage
SUPERSEDED = "superseded"  # an earlier ETR update's pending call: the new one replaces it
REOPENED = "reopened"  # an all-clear's pending call: the outage is back on


# --- the supervisor's rules ----------------------------------------------------------------

# The statuses an acknowledgement may start at, in the order an outage moves through them.
ACK_STATUSES = (OutageStatus.CONFIRMED, OutageStatus.CREW_DISPATCHED, OutageStatus.CREW_ON_SITE)
_ACTIVE_RANK: Mapping[OutageStatus, int] = {
    OutageStatus.REPORTED: 0,
    OutageStatus.CONFIRMED: 1,
    OutageStatus.CREW_DISPATCHED: 2,
    OutageStatus.CREW_ON_SITE: 3,
}
# Bounds a supervisor's rules are kept within: past them a setting is a typo, not a policy
# (a week's blink hold sends nothing useful; twenty ETR calls about one outage is harassment).
MAX_BLINK_HOLD_S = 7 * DAY_S
MAX_SKIP_RECENT_CALLERS_S = 7 * DAY_S
MAX_ETR_MIN_CHANGE_S = 2 * DAY_S
MAX_ETR_GAP_S = 7 * DAY_S
MAX_ETR_UPDATES_PER_OUTAGE = 20


@dataclass(frozen=True, kw_only=True, slots=True)
class AcknowledgeRule:
    enabled: bool = True
    # The statuses that start the acknowledgement; an outage first seen at a later status
    # (a crew already on site) is acknowledged too.
    on: tuple[OutageStatus, ...] = (OutageStatus.CONFIRMED,)
    blink_hold_s: int = 300
    skip_recent_callers_s: int = 1800


@dataclass(frozen=True, kw_only=True, slots=True)
class EtrUpdateRule:
    enabled: bool = True
    min_change_s: int = 1800
    per_customer_gap_s: int = 3600
    max_per_outage: int = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class AllClearRule:
    enabled: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class EventPacing:
    cps: float
    max_concurrent: int


DEFAULT_PACING = EventPacing(cps=20.0, max_concurrent=200)


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationRules:
    acknowledge: AcknowledgeRule = field(default_factory=AcknowledgeRule)
    etr_update: EtrUpdateRule = field(default_factory=EtrUpdateRule)
    all_clear: AllClearRule = field(default_factory=AllClearRule)
    # Per trigger; a trigger not named here uses DEFAULT_PACING.
    pacing: Mapping[Trigger, EventPacing] = field(default_factory=dict)
    # The calling window every automatic campaign keeps (in each customer's own time zone).
    window: DailyWindow | None = None  # None: domain.campaigns.DEFAULT_WINDOW
    planned: PlannedRules = field(default_factory=PlannedRules)
    survey: SurveyRules = field(default_factory=SurveyRules)

    def pacing_for(self, trigger: Trigger) -> EventPacing:
        return self.pacing.get(trigger, DEFAULT_PACING)

    def calling_window(self) -> DailyWindow:
        """The window in effect: the supervisor's, or the product's default."""
        return self.window if self.window is not None else parse_window(DEFAULT_WINDOW)

    def as_json(self) -> dict[str, Any]:
        """The document `GET /api/v1/automation` answers (DESIGN.md), every field present."""
        ack, etr = self.acknowledge, self.etr_update
        return {
            "acknowledge": {
                "enabled": ack.enabled,
                "on": [status.value for status in ack.on],
                "blink_hold_s": ack.blink_hold_s,
                "skip_recent_callers_s": ack.skip_recent_callers_s,
            },
            "etr_update": {
                "enabled": etr.enabled,
                "min_change_s": etr.min_change_s,
                "per_customer_gap_s": etr.per_customer_gap_s,
                "max_per_outage": etr.max_per_outage,
            },
            "all_clear": {"enabled": self.all_clear.enabled},
            "pacing": {
                trigger.value: {
                    "cps": self.pacing_for(trigger).cps,
                    "max_concurrent": self.pacing_for(trigger).max_concurrent,
                }
                for trigger in Trigger
            },
            "window": self.calling_window().describe(),
            "planned": self.planned.as_json(),
            "survey": self.survey.as_json(),
        }


_RULE_FIELDS: Mapping[str, frozenset[str]] = {
    "acknowledge": frozenset({"enabled", "on", "blink_hold_s", "skip_recent_callers_s"}),
    "etr_update": frozenset({"enabled", "min_change_s", "per_customer_gap_s", "max_per_outage"}),
    "all_clear": frozenset({"enabled"}),
    "pacing": frozenset(trigger.value for trigger in Trigger),
    "window": frozenset(),
    # Checked by their own modules' merges (domain.planned, domain.survey).
    "planned": frozenset(),
    "survey": frozenset(),
}
_PACING_FIELDS = frozenset({"cps", "max_concurrent"})


def merge_rules(current: AutomationRules, patch: object) -> AutomationRules:
    """A supervisor's partial document merged into the current rules. Raises InvalidField
    naming the dotted path of the first bad or unknown field (`etr_update.min_change_s`)."""
    body = _object(patch, "body", known=frozenset(_RULE_FIELDS), prefix="")
    rules = current
    if "acknowledge" in body:
        rules = replace(rules, acknowledge=_merge_acknowledge(rules.acknowledge, body))
    if "etr_update" in body:
        rules = replace(rules, etr_update=_merge_etr_update(rules.etr_update, body))
    if "all_clear" in body:
        section = _section(body, "all_clear")
        if "enabled" in section:
            rules = replace(
                rules, all_clear=AllClearRule(enabled=_boolean(section, "all_clear.enabled"))
            )
    if "pacing" in body:
        rules = replace(rules, pacing=_merge_pacing(rules.pacing, _section(body, "pacing")))
    if "window" in body:
        rules = replace(rules, window=_default_window_as_none(_window(body["window"])))
    if "planned" in body:
        rules = replace(rules, planned=merge_planned(rules.planned, body["planned"]))
    if "survey" in body:
        rules = replace(rules, survey=merge_survey_rules(rules.survey, body["survey"]))
    return rules


def _section(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    return _object(body[name], name, known=_RULE_FIELDS[name], prefix=f"{name}.")


def _merge_acknowledge(rule: AcknowledgeRule, body: Mapping[str, Any]) -> AcknowledgeRule:
    section = _section(body, "acknowledge")
    if "enabled" in section:
        rule = replace(rule, enabled=_boolean(section, "acknowledge.enabled"))
    if "on" in section:
        rule = replace(rule, on=_ack_statuses(section["on"], "acknowledge.on"))
    if "blink_hold_s" in section:
        rule = replace(
            rule, blink_hold_s=_seconds(section, "acknowledge.blink_hold_s", MAX_BLINK_HOLD_S)
        )
    if "skip_recent_callers_s" in section:
        rule = replace(
            rule,
            skip_recent_callers_s=_seconds(
                section, "acknowledge.skip_recent_callers_s", MAX_SKIP_RECENT_CALLERS_S
            ),
        )
    return rule


def _merge_etr_update(rule: EtrUpdateRule, body: Mapping[str, Any]) -> EtrUpdateRule:
    section = _section(body, "etr_update")
    if "enabled" in section:
        rule = replace(rule, enabled=_boolean(section, "etr_update.enabled"))
    if "min_change_s" in section:
        rule = replace(
            rule, min_change_s=_seconds(section, "etr_update.min_change_s", MAX_ETR_MIN_CHANGE_S)
        )
    if "per_customer_gap_s" in section:
        rule = replace(
            rule,
            per_customer_gap_s=_seconds(section, "etr_update.per_customer_gap_s", MAX_ETR_GAP_S),
        )
    if "max_per_outage" in section:
        value = section["max_per_outage"]
        if not _is_whole(value) or not 0 <= value <= MAX_ETR_UPDATES_PER_OUTAGE:
            raise InvalidField(
                "etr_update.max_per_outage",
                f"must be a whole number from 0 to {MAX_ETR_UPDATES_PER_OUTAGE}",
            )
        rule = replace(rule, max_per_outage=value)
    return rule


def _merge_pacing(
    current: Mapping[Trigger, EventPacing], section: Mapping[str, Any]
) -> dict[Trigger, EventPacing]:
    pacing = dict(current)
    for name, value in section.items():
        trigger = Trigger(name)
        path = f"pacing.{name}"
        entry = _object(value, path, known=_PACING_FIELDS, prefix=f"{path}.")
        merged = pacing.get(trigger, DEFAULT_PACING)
        if "cps" in entry:
            merged = replace(merged, cps=_pacing_value(entry["cps"], f"{path}.cps", check_cps))
        if "max_concurrent" in entry:
            concurrent = entry["max_concurrent"]
            if not _is_whole(concurrent):
                raise InvalidField(f"{path}.max_concurrent", "must be a whole number")
            merged = replace(
                merged,
                max_concurrent=_pacing_value(
                    concurrent, f"{path}.max_concurrent", check_max_concurrent
                ),
            )
        pacing[trigger] = merged
    return _overrides_only(pacing)


_Pace = TypeVar("_Pace", int, float)


def _pacing_value(value: Any, path: str, check: Callable[[Any], _Pace]) -> _Pace:
    if not _is_number(value):
        raise InvalidField(path, "must be a number")
    try:
        return check(value)
    except InvalidField as exc:  # the campaign check names its own field, not this path
        raise InvalidField(path, exc.message) from None


def _overrides_only(pacing: Mapping[Trigger, EventPacing]) -> dict[Trigger, EventPacing]:
    # A pacing equal to the default is no override: the document reads the same either way,
    # and rules compare equal however they were reached.
    return {trigger: pace for trigger, pace in pacing.items() if pace != DEFAULT_PACING}


def _window(value: object) -> DailyWindow:
    if not isinstance(value, str):
        raise InvalidField("window", 'must be a string such as "08:00-21:00" (or "24h")')
    return parse_window(value)


def _default_window_as_none(window: DailyWindow | None) -> DailyWindow | None:
    return None if window == parse_window(DEFAULT_WINDOW) else window


def _ack_statuses(value: object, path: str) -> tuple[OutageStatus, ...]:
    allowed = ", ".join(status.value for status in ACK_STATUSES)
    if not isinstance(value, list) or not value:
        raise InvalidField(path, f"must be a non-empty list of statuses among {allowed}")
    chosen: set[OutageStatus] = set()
    for index, item in enumerate(value):
        if not isinstance(item, str) or item not in {status.value for status in ACK_STATUSES}:
            raise InvalidField(f"{path}[{index}]", f"must be one of {allowed}")
        chosen.add(OutageStatus(item))
    return tuple(status for status in ACK_STATUSES if status in chosen)


def rules_from_json(raw: Mapping[str, Any] | None) -> AutomationRules:
    """Rules as stored (a document `as_json` wrote, perhaps by an older server): fields it
    lacks read as their defaults. None: the defaults."""
    if not raw:
        return AutomationRules()
    ack_raw = _mapping(raw.get("acknowledge"))
    etr_raw = _mapping(raw.get("etr_update"))
    ack, etr = AcknowledgeRule(), EtrUpdateRule()
    statuses = [s for s in ACK_STATUSES if s.value in (ack_raw.get("on") or ())]
    return AutomationRules(
        acknowledge=AcknowledgeRule(
            enabled=_stored_flag(ack_raw, "enabled", ack.enabled),
            on=tuple(statuses) or ack.on,
            blink_hold_s=_stored_whole(ack_raw, "blink_hold_s", ack.blink_hold_s),
            skip_recent_callers_s=_stored_whole(
                ack_raw, "skip_recent_callers_s", ack.skip_recent_callers_s
            ),
        ),
        etr_update=EtrUpdateRule(
            enabled=_stored_flag(etr_raw, "enabled", etr.enabled),
            min_change_s=_stored_whole(etr_raw, "min_change_s", etr.min_change_s),
            per_customer_gap_s=_stored_whole(etr_raw, "per_customer_gap_s", etr.per_customer_gap_s),
            max_per_outage=_stored_whole(etr_raw, "max_per_outage", etr.max_per_outage),
        ),
        all_clear=AllClearRule(
            enabled=_stored_flag(_mapping(raw.get("all_clear")), "enabled", AllClearRule().enabled)
        ),
        pacing=_stored_pacing(_mapping(raw.get("pacing"))),
        window=_stored_window(raw.get("window")),
        planned=planned_from_json(raw.get("planned")),
        survey=survey_rules_from_json(raw.get("survey")),
    )


def _stored_pacing(raw: Mapping[str, Any]) -> dict[Trigger, EventPacing]:
    pacing: dict[Trigger, EventPacing] = {}
    for trigger in Trigger:  # names a later server added are its own business
        entry = _mapping(raw.get(trigger.value))
        cps, concurrent = entry.get("cps"), entry.get("max_concurrent")
        try:
            pacing[trigger] = EventPacing(
                cps=check_cps(cps) if _is_number(cps) else DEFAULT_PACING.cps,
                max_concurrent=(
                    check_max_concurrent(concurrent)
                    if _is_whole(concurrent)
                    else DEFAULT_PACING.max_concurrent
                ),
            )
        except InvalidField:
            continue
    return _overrides_only(pacing)


def _stored_window(value: object) -> DailyWindow | None:
    if not isinstance(value, str):
        return None
    try:
        return _default_window_as_none(parse_daily_window(value))
    except BadWindow:
        return None


# --- what changed --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageChange:
    """One write of the OMS to one outage, as the outbox records it."""

    created: bool
    status_before: OutageStatus | None  # None: the outage is new
    status: OutageStatus
    etr_before: datetime | None
    etr: datetime | None
    cause_changed: bool
    planned: bool
    premises_added: tuple[str, ...] = ()
    premises_removed: tuple[str, ...] = ()
    feeders_added: tuple[str, ...] = ()
    feeders_removed: tuple[str, ...] = ()
    # Planned work's times before and after the write (None: not planned, or not sent).
    starts_at_before: datetime | None = None
    starts_at: datetime | None = None
    ends_at_before: datetime | None = None
    ends_at: datetime | None = None
    alternate_before: datetime | None = None
    alternate: datetime | None = None
    planned_before: bool = False

    @property
    def grew(self) -> bool:
        return not self.created and bool(self.premises_added or self.feeders_added)

    @property
    def shrank(self) -> bool:
        return bool(self.premises_removed or self.feeders_removed)

    def as_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "status_before": None if self.status_before is None else self.status_before.value,
            "status": self.status.value,
            "etr_before": _iso(self.etr_before),
            "etr": _iso(self.etr),
            "cause_changed": self.cause_changed,
            "planned": self.planned,
            "premises_added": list(self.premises_added),
            "premises_removed": list(self.premises_removed),
            "feeders_added": list(self.feeders_added),
            "feeders_removed": list(self.feeders_removed),
            "starts_at_before": _iso(self.starts_at_before),
            "starts_at": _iso(self.starts_at),
            "ends_at_before": _iso(self.ends_at_before),
            "ends_at": _iso(self.ends_at),
            "alternate_before": _iso(self.alternate_before),
            "alternate": _iso(self.alternate),
            "planned_before": self.planned_before,
        }

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> OutageChange:
        status_before = raw.get("status_before")
        return OutageChange(
            created=bool(raw.get("created")),
            status_before=None if status_before is None else OutageStatus(status_before),
            status=OutageStatus(raw["status"]),
            etr_before=_from_iso(raw.get("etr_before")),
            etr=_from_iso(raw.get("etr")),
            cause_changed=bool(raw.get("cause_changed")),
            planned=bool(raw.get("planned")),
            premises_added=tuple(raw.get("premises_added") or ()),
            premises_removed=tuple(raw.get("premises_removed") or ()),
            feeders_added=tuple(raw.get("feeders_added") or ()),
            feeders_removed=tuple(raw.get("feeders_removed") or ()),
            # Absent from changes stored before planned work was scheduled: read as None.
            starts_at_before=_from_iso(raw.get("starts_at_before")),
            starts_at=_from_iso(raw.get("starts_at")),
            ends_at_before=_from_iso(raw.get("ends_at_before")),
            ends_at=_from_iso(raw.get("ends_at")),
            alternate_before=_from_iso(raw.get("alternate_before")),
            alternate=_from_iso(raw.get("alternate")),
            planned_before=bool(raw.get("planned_before")),
        )


def outage_change(previous: Mapping[str, Any] | None, current: OutageState) -> OutageChange:
    """From the canonical state stored before the write (`OutageState.canonical()`; None or
    an empty mapping for a new outage) to the state written."""
    before: Mapping[str, Any] = previous or {}
    created = not before
    premises = _diff(before.get("premise_ids"), current.premise_ids)
    feeders = _diff(before.get("feeder_ids"), current.feeder_ids)
    return OutageChange(
        created=created,
        status_before=None if created else OutageStatus(before["status"]),
        status=current.status,
        etr_before=_from_iso(before.get("etr")),
        etr=current.etr,
        cause_changed=before.get("cause") != current.cause,
        planned=current.planned,
        premises_added=premises[0],
        premises_removed=premises[1],
        feeders_added=feeders[0],
        feeders_removed=feeders[1],
        starts_at_before=_from_iso(before.get("starts_at")),
        starts_at=current.starts_at,
        ends_at_before=_from_iso(before.get("ends_at")),
        ends_at=current.ends_at,
        alternate_before=_from_iso(before.get("alternate_starts_at")),
        alternate=current.alternate_starts_at,
        planned_before=bool(before.get("planned")),
    )


def _diff(
    before: Sequence[str] | None, after: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(added, removed), each sorted: the same change reads the same however it was sent."""
    old, new = set(before or ()), set(after)
    return tuple(sorted(new - old)), tuple(sorted(old - new))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _from_iso(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


# --- what the automation knows of one outage -----------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationState:
    # The acknowledgement: held until `ack_due_at` (the blink hold), then planned.
    ack_due_at: datetime | None = None
    ack_event_id: int | None = None
    ack_trigger: Trigger | None = None
    acknowledged: bool = False  # its campaign has been asked for
    # The ETR customers were last told about (the ack's or the last ETR update's, as it was
    # when that campaign was planned; calls speak the outage's ETR at the time they are
    # answered); `etr_told`: whether any such campaign has been planned.
    announced_etr: datetime | None = None
    etr_told: bool = False
    etr_updates: int = 0
    last_etr_update_at: datetime | None = None
    # An ETR update coalesced under the churn cap, due when the cap allows.
    etr_due_at: datetime | None = None
    etr_event_id: int | None = None
    # The ETR was cleared after one was announced: calls answered since said "we will call
    # you when we have an estimate", so the next ETR set is that call, however near the old.
    etr_cleared_since_announced: bool = False
    closed: bool = False  # restored or cancelled: nothing more is sent (until reopened)

    def due_at(self) -> datetime | None:
        dues = [at for at in (self.ack_due_at, self.etr_due_at) if at is not None]
        return min(dues) if dues else None

    def as_json(self) -> dict[str, Any]:
        return {
            "ack_due_at": _iso(self.ack_due_at),
            "ack_event_id": self.ack_event_id,
            "ack_trigger": None if self.ack_trigger is None else self.ack_trigger.value,
            "acknowledged": self.acknowledged,
            "announced_etr": _iso(self.announced_etr),
            "etr_told": self.etr_told,
            "etr_updates": self.etr_updates,
            "last_etr_update_at": _iso(self.last_etr_update_at),
            "etr_due_at": _iso(self.etr_due_at),
            "etr_event_id": self.etr_event_id,
            "etr_cleared_since_announced": self.etr_cleared_since_announced,
            "closed": self.closed,
        }

    @staticmethod
    def from_json(raw: Mapping[str, Any] | None) -> AutomationState:
        if not raw:
            return AutomationState()
        ack_trigger = raw.get("ack_trigger")
        return AutomationState(
            ack_due_at=_from_iso(raw.get("ack_due_at")),
            ack_event_id=raw.get("ack_event_id"),
            ack_trigger=None if ack_trigger is None else Trigger(ack_trigger),
            acknowledged=bool(raw.get("acknowledged")),
            announced_etr=_from_iso(raw.get("announced_etr")),
            etr_told=bool(raw.get("etr_told")),
            etr_updates=int(raw.get("etr_updates") or 0),
            last_etr_update_at=_from_iso(raw.get("last_etr_update_at")),
            etr_due_at=_from_iso(raw.get("etr_due_at")),
            etr_event_id=raw.get("etr_event_id"),
            # Absent from states stored before it was kept: nothing was owed then.
            etr_cleared_since_announced=bool(raw.get("etr_cleared_since_announced")),
            closed=bool(raw.get("closed")),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageFacts:
    """The outage as it is now, for decisions taken when something falls due."""

    status: OutageStatus
    etr: datetime | None
    planned: bool


# --- what to do ----------------------------------------------------------------------------


class AudienceRule(StrEnum):
    OUTAGE = "outage"  # everyone the outage covers now
    # The all-clear: everyone the outage covers now and everyone told about it before,
    # less those never told (NOT_TOLD), cleared already, or out on another outage.
    ALL_CLEAR = "all_clear"
    # A partial all-clear: customers at the premises or feeders just taken off the outage
    # who were told about it, less those out on another outage.
    REMOVED = "removed"
    # Planned work: the numbers a telling message of the work was placed to (a move, a
    # cancellation).
    TOLD = "told"
    # Planned work: the numbers at the premises or feeders named (those added to the work).
    PREMISES = "premises"
    # Planned work: everyone the outage covers now but the numbers of TOLD (the new date's
    # notice after a move).
    UNTOLD = "untold"


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanCampaign:
    trigger: Trigger
    event_id: int  # with `trigger`, the campaign's identity: asked for again, it is found
    kind: CampaignKind
    audience: AudienceRule = AudienceRule.OUTAGE
    premises: tuple[str, ...] = ()  # AudienceRule.REMOVED only
    feeders: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class AppendTargets:
    """Newly affected customers join the outage's acknowledgement campaign (not a second
    campaign calling everyone again)."""

    event_id: int
    premises: tuple[str, ...]
    feeders: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Withdraw:
    """Pending calls of the outage's automatic campaigns are taken back (excluded with
    `reason`). `triggers` empty: every automatic campaign of the outage."""

    reason: str
    triggers: tuple[Trigger, ...] = ()
    # Only targets none of whose premises is on the outage any more.
    only_unaffected: bool = False


Action = PlanCampaign | AppendTargets | Withdraw


class Verdict(StrEnum):
    PLANNED = "planned"
    SCHEDULED = "scheduled"  # a planned-work message (or a survey) waits for its moment
    HELD = "held"  # waiting for the blink hold
    COALESCED = "coalesced"  # folded into a later call
    APPENDED = "appended"
    WITHDRAWN = "withdrawn"
    SKIPPED = "skipped"


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    event: str  # a Trigger's value, or "cancelled" / "premises_removed"...
    verdict: Verdict
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    state: AutomationState
    actions: tuple[Action, ...] = ()
    decisions: tuple[Decision, ...] = ()


def on_change(
    state: AutomationState,
    change: OutageChange,
    *,
    event_id: int,
    rules: AutomationRules,
    now: datetime,
) -> Outcome:
    """What one outage change sends, withdraws or schedules."""
    if change.status is OutageStatus.CANCELLED:
        return _cancelled(state, change)
    if change.status is OutageStatus.RESTORED:
        return _restored(state, change, event_id=event_id, rules=rules)
    outcome = Outcome(state=state)
    if _reopened(state, change):
        outcome = _reopen(state)
    base = outcome.state
    outcome = _then(outcome, _acknowledge(base, change, event_id=event_id, rules=rules, now=now))
    if outcome.state == base:  # an acknowledgement decided just now speaks the ETR itself
        outcome = _then(
            outcome, _etr_changed(base, change, event_id=event_id, rules=rules, now=now)
        )
    # Growth and shrinkage concern those told before this change: an acknowledgement planned
    # by it covers the outage as it is now.
    outcome = _then(outcome, _grew(base, outcome.state, change, event_id=event_id))
    outcome = _then(outcome, _shrank(base, outcome.state, change, event_id=event_id, rules=rules))
    return replace(outcome, state=_note_etr_cleared(outcome.state, change))


def on_due(
    state: AutomationState, outage: OutageFacts, *, rules: AutomationRules, now: datetime
) -> Outcome:
    """What falls due now: a held acknowledgement, a coalesced ETR update."""
    outcome = Outcome(state=state)
    if state.ack_due_at is not None and state.ack_due_at <= now:
        outcome = _ack_due(state, outage, rules=rules)
    held = outcome.state
    if held.etr_due_at is not None and held.etr_due_at <= now:
        outcome = _then(outcome, _etr_due(held, outage, rules=rules, now=now))
    return outcome


def _then(first: Outcome, second: Outcome) -> Outcome:
    """`second` was worked out from `first`'s state: its state, and both's actions."""
    return Outcome(
        state=second.state,
        actions=first.actions + second.actions,
        decisions=first.decisions + second.decisions,
    )


def _skip(state: AutomationState, event: str, reason: str) -> Outcome:
    return Outcome(state=state, decisions=(_skipped(event, reason),))


def _skipped(event: str, reason: str) -> Decision:
    return Decision(event=event, verdict=Verdict.SKIPPED, reason=reason)


def _note_etr_cleared(state: AutomationState, change: OutageChange) -> AutomationState:
    """Remembers an ETR cleared while the one announced stands (the update saying so was
    coalesced or capped): calls answered meanwhile promise a call when there is an estimate."""
    cleared = change.etr is None and change.etr_before is not None
    if cleared and state.etr_told and state.announced_etr is not None:
        return replace(state, etr_cleared_since_announced=True)
    return state


def _anything_planned(state: AutomationState) -> bool:
    # Before an acknowledgement or an ETR update nobody has been called about the outage:
    # nothing to take back, nobody to tell it is over for them.
    return state.acknowledged or state.etr_told


def _closed(state: AutomationState) -> AutomationState:
    return replace(
        state,
        ack_due_at=None,
        ack_event_id=None,
        ack_trigger=None,
        etr_due_at=None,
        etr_event_id=None,
        closed=True,
    )


def _reopened(state: AutomationState, change: OutageChange) -> bool:
    before = change.status_before
    return state.closed or (before is not None and not before.is_active)


def _reopen(state: AutomationState) -> Outcome:
    """Restored or cancelled, then active again: an outage again, whose customers are told
    of it afresh under the rules (the blink hold too), and whose all-clear, if still calling,
    would now be wrong. The time of the last ETR update stays: the churn cap still spaces
    ETR calls to the same customers."""
    fresh = replace(
        _closed(state),
        acknowledged=False,
        announced_etr=None,
        etr_told=False,
        etr_updates=0,
        etr_cleared_since_announced=False,
        closed=False,
    )
    return Outcome(
        state=fresh,
        actions=(Withdraw(reason=REOPENED, triggers=(Trigger.RESTORED,)),),
        decisions=(
            Decision(
                event="reopened",
                verdict=Verdict.WITHDRAWN,
                reason=(
                    "outage reopened: all-clear calls not made yet are withdrawn; its customers "
                    "are acknowledged again under the rules"
                ),
            ),
        ),
    )


# --- 1. cancelled --------------------------------------------------------------------------


def _cancelled(state: AutomationState, change: OutageChange) -> Outcome:
    if change.status_before is OutageStatus.CANCELLED:
        return Outcome(state=state)  # written again while cancelled: nothing left to do
    if change.created:
        return _skip(_closed(state), "cancelled", "cancelled when first seen: nothing was sent")
    # Withdrawn even when the state says nothing was planned: a campaign planned just before
    # a crash lost the state's write is taken back all the same (and nothing else is).
    if _anything_planned(state):
        reason = "outage cancelled: calls about it not made yet are withdrawn"
    else:
        reason = "outage cancelled before any call was planned"
        if state.ack_due_at is not None:
            reason += ": the held acknowledgement will not go out"
    return Outcome(
        state=_closed(state),
        actions=(Withdraw(reason=OUTAGE_CANCELLED),),
        decisions=(Decision(event="cancelled", verdict=Verdict.WITHDRAWN, reason=reason),),
    )


# --- 2. restored ---------------------------------------------------------------------------


def _restored(
    state: AutomationState, change: OutageChange, *, event_id: int, rules: AutomationRules
) -> Outcome:
    restored = Trigger.RESTORED.value
    if change.status_before is OutageStatus.RESTORED:
        return Outcome(state=state)  # written again while restored: the all-clear was decided
    if change.created:
        return _skip(_closed(state), restored, "restored when first seen")
    told = _anything_planned(state)
    # Customers power came back for before their call was made get no acknowledgement and no
    # ETR. Withdrawn even when the state says nothing was planned: a campaign planned just
    # before a crash lost the state's write is taken back all the same.
    actions: list[Action] = [Withdraw(reason=RESTORED_FIRST, triggers=NEWS_TRIGGERS)]
    decisions = [
        Decision(
            event=restored,
            verdict=Verdict.WITHDRAWN,
            reason=(
                "power restored: acknowledgements and ETR updates not made yet are withdrawn"
                if told
                else "power restored before any call was planned: any call found pending "
                "is withdrawn"
            ),
        )
    ]
    if state.ack_due_at is not None:
        held = (state.ack_trigger or Trigger.CONFIRMED).value
        decisions.append(
            Decision(event=held, verdict=Verdict.SKIPPED, reason="blink: restored within the hold")
        )
    if change.status_before is OutageStatus.CANCELLED:
        # Its calls were withdrawn at the cancellation: an all-clear would be the first some
        # customers hear of an outage the OMS had called off.
        decisions.append(
            _skipped(restored, "restored after it was cancelled: no all-clear is sent")
        )
    elif not told:
        # Planned work's all-clear is its schedule's (domain.planned), not this one.
        if state.ack_due_at is None and not change.planned:  # a blink's decision says why
            decisions.append(_skipped(restored, "nobody was told of the outage: no all-clear"))
    elif rules.all_clear.enabled:
        actions.append(
            PlanCampaign(
                trigger=Trigger.RESTORED,
                event_id=event_id,
                kind=TRIGGER_KINDS[Trigger.RESTORED],
                audience=AudienceRule.ALL_CLEAR,
            )
        )
        decisions.append(
            Decision(
                event=restored,
                verdict=Verdict.PLANNED,
                reason=(
                    "power restored: all-clear, asking customers to press 1 if theirs is still out"
                ),
            )
        )
    else:
        decisions.append(_skipped(restored, "all-clear calls are turned off"))
    return Outcome(state=_closed(state), actions=tuple(actions), decisions=tuple(decisions))


# --- 3. acknowledge ------------------------------------------------------------------------


def _acknowledge(
    state: AutomationState,
    change: OutageChange,
    *,
    event_id: int,
    rules: AutomationRules,
    now: datetime,
) -> Outcome:
    rule = rules.acknowledge
    if state.acknowledged or state.ack_due_at is not None:
        return Outcome(state=state)
    reached = _ack_status_reached(rule.on, change.status)
    if reached is None:
        return Outcome(state=state)
    trigger = _ack_trigger(reached)
    if change.planned or not rule.enabled:
        # Said once, when the outage gets there, not on every later write.
        if not _crossed_into_ack(change, rule.on):
            return Outcome(state=state)
        reason = (
            "planned work is not acknowledged"
            if change.planned
            else "acknowledgements are turned off"
        )
        return _skip(state, trigger.value, reason)
    if rule.blink_hold_s > 0:
        due = now + timedelta(seconds=rule.blink_hold_s)
        return Outcome(
            state=replace(state, ack_due_at=due, ack_event_id=event_id, ack_trigger=trigger),
            decisions=(
                Decision(
                    event=trigger.value,
                    verdict=Verdict.HELD,
                    reason=(
                        f"blink hold: the acknowledgement waits {_span(rule.blink_hold_s)}, "
                        f"until {utc_minute(due)}, in case power comes back"
                    ),
                ),
            ),
        )
    return _plan_ack(
        state,
        trigger,
        event_id=event_id,
        etr=change.etr,
        reason=f"outage {_words(change.status)}: acknowledgement ({_etr_words(change.etr)})",
    )


def _ack_status_reached(on: Sequence[OutageStatus], status: OutageStatus) -> OutageStatus | None:
    """The furthest of the acknowledging statuses the outage is at or past; None: none yet.
    An outage first seen with a crew on site is acknowledged like one just confirmed."""
    rank = _ACTIVE_RANK.get(status)
    if rank is None:
        return None
    reached = [s for s in on if _ACTIVE_RANK.get(s, len(_ACTIVE_RANK)) <= rank]
    return max(reached, key=lambda s: _ACTIVE_RANK[s]) if reached else None


def _ack_trigger(reached: OutageStatus) -> Trigger:
    return Trigger.CONFIRMED if reached is OutageStatus.CONFIRMED else Trigger.CREW_DISPATCHED


def _crossed_into_ack(change: OutageChange, on: Sequence[OutageStatus]) -> bool:
    earliest = min(_ACTIVE_RANK.get(s, len(_ACTIVE_RANK)) for s in on)
    before = change.status_before
    return before is None or _ACTIVE_RANK.get(before, -1) < earliest


def _plan_ack(
    state: AutomationState, trigger: Trigger, *, event_id: int, etr: datetime | None, reason: str
) -> Outcome:
    return Outcome(
        state=replace(
            state,
            ack_due_at=None,
            ack_event_id=None,
            ack_trigger=None,
            acknowledged=True,
            announced_etr=etr,
            etr_told=True,
            etr_cleared_since_announced=False,
        ),
        actions=(PlanCampaign(trigger=trigger, event_id=event_id, kind=TRIGGER_KINDS[trigger]),),
        decisions=(Decision(event=trigger.value, verdict=Verdict.PLANNED, reason=reason),),
    )


def _ack_due(state: AutomationState, outage: OutageFacts, *, rules: AutomationRules) -> Outcome:
    trigger = state.ack_trigger or Trigger.CONFIRMED
    event_id = state.ack_event_id
    released = replace(state, ack_due_at=None, ack_event_id=None, ack_trigger=None)
    blocker = _ack_blocker(state, outage, rules)
    if blocker is not None or event_id is None:
        return _skip(released, trigger.value, blocker or "no event to acknowledge")
    return _plan_ack(
        released,
        trigger,
        event_id=event_id,
        etr=outage.etr,
        reason=(
            f"blink hold over, outage still {_words(outage.status)}: acknowledgement "
            f"({_etr_words(outage.etr)})"
        ),
    )


def _ack_blocker(state: AutomationState, outage: OutageFacts, rules: AutomationRules) -> str | None:
    """Why a held acknowledgement must not go out now; None: it goes."""
    if state.closed or not outage.status.is_active:
        return f"the outage is {_words(outage.status)} now"
    if outage.planned:
        return "planned work is not acknowledged"
    if not rules.acknowledge.enabled:
        return "acknowledgements were turned off during the hold"
    if state.acknowledged:
        return "acknowledged already"
    if _ack_status_reached(rules.acknowledge.on, outage.status) is None:
        return f"the outage went back to {_words(outage.status)} during the hold"
    return None


# --- 4. ETR --------------------------------------------------------------------------------


def _etr_changed(
    state: AutomationState,
    change: OutageChange,
    *,
    event_id: int,
    rules: AutomationRules,
    now: datetime,
) -> Outcome:
    if change.etr == change.etr_before:
        return Outcome(state=state)
    event = Trigger.ETR_CHANGED.value
    if state.ack_due_at is not None:
        return Outcome(
            state=state,
            decisions=(
                Decision(
                    event=event,
                    verdict=Verdict.COALESCED,
                    reason="the held acknowledgement will speak the latest ETR",
                ),
            ),
        )
    if not state.acknowledged and change.planned:
        return _skip(state, event, "planned work: no ETR update calls")
    if not state.acknowledged and rules.acknowledge.enabled:
        return _skip(
            state,
            event,
            "no one has been told of the outage yet: the acknowledgement will speak the ETR",
        )
    return _etr_update(state, change.etr, event_id=event_id, rules=rules, now=now)


def _etr_update(
    state: AutomationState,
    etr: datetime | None,
    *,
    event_id: int,
    rules: AutomationRules,
    now: datetime,
) -> Outcome:
    """An ETR update for `etr` (the outage's now), compared with the ETR last announced, as
    a change and as a coalesced update falling due."""
    rule = rules.etr_update
    event = Trigger.ETR_CHANGED.value
    if not rule.enabled:
        return _skip(state, event, "ETR updates are turned off")
    announced = state.announced_etr
    # Calls answered while the ETR was cleared said "we will call you when we do": the next
    # ETR set is that call, even back near the one announced before.
    owed = state.etr_cleared_since_announced and etr is not None
    if not owed and not _significant(announced, etr, rule.min_change_s):
        return _skip(state, event, _under_threshold(announced, etr, rule.min_change_s))
    # Customers told "we will call when we have an estimate" get that call, cap or not.
    promised = owed or (state.etr_told and announced is None and etr is not None)
    if state.etr_updates >= rule.max_per_outage and not promised:
        return _skip(
            state,
            event,
            f"cap reached: {state.etr_updates} ETR update(s) planned for this outage "
            f"(at most {rule.max_per_outage})",
        )
    last = state.last_etr_update_at
    gap = timedelta(seconds=rule.per_customer_gap_s)
    if last is not None and now - last < gap:
        due = last + gap
        return Outcome(
            state=replace(state, etr_due_at=due, etr_event_id=event_id),
            decisions=(
                Decision(
                    event=event,
                    verdict=Verdict.COALESCED,
                    reason=(
                        f"churn cap: an ETR update was planned "
                        f"{_span((now - last).total_seconds())} ago; the next goes at "
                        f"{utc_minute(due)} with the ETR of that moment"
                    ),
                ),
            ),
        )
    return Outcome(
        state=replace(
            state,
            announced_etr=etr,
            etr_told=True,
            etr_updates=state.etr_updates + 1,
            last_etr_update_at=now,
            etr_due_at=None,
            etr_event_id=None,
            etr_cleared_since_announced=False,
        ),
        actions=(
            PlanCampaign(
                trigger=Trigger.ETR_CHANGED,
                event_id=event_id,
                kind=TRIGGER_KINDS[Trigger.ETR_CHANGED],
            ),
        ),
        decisions=(
            Decision(
                event=event,
                verdict=Verdict.PLANNED,
                reason=_etr_news(announced, etr, promised=promised, told=state.etr_told, owed=owed),
            ),
        ),
    )


def _etr_due(
    state: AutomationState, outage: OutageFacts, *, rules: AutomationRules, now: datetime
) -> Outcome:
    event_id = state.etr_event_id
    released = replace(state, etr_due_at=None, etr_event_id=None)
    if state.closed or not outage.status.is_active:
        return _skip(
            released, Trigger.ETR_CHANGED.value, f"the outage is {_words(outage.status)} now"
        )
    if event_id is None:
        return _skip(released, Trigger.ETR_CHANGED.value, "no event to update from")
    # Checked afresh: the ETR may have moved back to the one announced while it waited.
    return _etr_update(released, outage.etr, event_id=event_id, rules=rules, now=now)


def _significant(announced: datetime | None, etr: datetime | None, min_change_s: int) -> bool:
    if announced is None or etr is None:
        return (announced is None) != (etr is None)
    return abs((etr - announced).total_seconds()) >= min_change_s


def _under_threshold(announced: datetime | None, etr: datetime | None, min_change_s: int) -> str:
    if announced is None or etr is None:
        return "no ETR was announced and there is none now"
    moved = abs((etr - announced).total_seconds())
    return (
        f"under the threshold: the ETR is {_span(moved)} from the one announced "
        f"({utc_minute(announced)}), less than {_span(min_change_s)}"
    )


def _etr_news(
    announced: datetime | None, etr: datetime | None, *, promised: bool, told: bool, owed: bool
) -> str:
    if etr is None:
        return "ETR cleared: customers hear there is no reliable estimate any more"
    if owed:
        return (
            f"ETR {utc_minute(etr)} after it was cleared: the call customers were promised "
            "when they heard there was no estimate"
        )
    if promised:
        return f"first ETR, {utc_minute(etr)}: the call customers were promised"
    if announced is None or not told:
        return f"ETR {utc_minute(etr)}: the first estimate customers hear"
    return f"ETR moved from {utc_minute(announced)} to {utc_minute(etr)}"


# --- 5. grew, 6. shrank --------------------------------------------------------------------


def _grew(
    before: AutomationState, state: AutomationState, change: OutageChange, *, event_id: int
) -> Outcome:
    # A held acknowledgement plans the whole outage when it falls due: nothing to add to.
    if not change.grew or not before.acknowledged:
        return Outcome(state=state)
    return Outcome(
        state=state,
        actions=(
            AppendTargets(
                event_id=event_id, premises=change.premises_added, feeders=change.feeders_added
            ),
        ),
        decisions=(
            Decision(
                event="premises_added",
                verdict=Verdict.APPENDED,
                reason=(
                    f"{_keys(change.premises_added, change.feeders_added)} joined the outage: "
                    "their customers join its acknowledgement"
                ),
            ),
        ),
    )


def _shrank(
    before: AutomationState,
    state: AutomationState,
    change: OutageChange,
    *,
    event_id: int,
    rules: AutomationRules,
) -> Outcome:
    if not change.shrank or not _anything_planned(before):
        return Outcome(state=state)
    removed = _keys(change.premises_removed, change.feeders_removed)
    # Only the calls about the outage: an earlier partial all-clear calls customers who are
    # off the outage by definition, and must not be taken back by the next removal.
    actions: list[Action] = [
        Withdraw(reason=NO_LONGER_AFFECTED, triggers=NEWS_TRIGGERS, only_unaffected=True)
    ]
    decisions = [
        Decision(
            event="premises_removed",
            verdict=Verdict.WITHDRAWN,
            reason=(
                f"{removed} taken off the outage: calls not made yet to customers there "
                "are withdrawn"
            ),
        )
    ]
    if rules.all_clear.enabled:
        # Those told of the outage (an acknowledgement, or an ETR update when acknowledgements
        # are off) hear it is over for them; the audience is only numbers already called.
        actions.append(
            PlanCampaign(
                trigger=Trigger.RESTORED,
                event_id=event_id,
                kind=TRIGGER_KINDS[Trigger.RESTORED],
                audience=AudienceRule.REMOVED,
                premises=change.premises_removed,
                feeders=change.feeders_removed,
            )
        )
        decisions.append(
            Decision(
                event=Trigger.RESTORED.value,
                verdict=Verdict.PLANNED,
                reason=f"partial all-clear for customers told of the outage at {removed}",
            )
        )
    return Outcome(state=state, actions=tuple(actions), decisions=tuple(decisions))


# --- words for the ledger ------------------------------------------------------------------


def _words(status: OutageStatus) -> str:
    return status.value.replace("_", " ")


def _etr_words(etr: datetime | None) -> str:
    return "no ETR yet" if etr is None else f"ETR {utc_minute(etr)}"


def _keys(premises: Sequence[str], feeders: Sequence[str]) -> str:
    parts = []
    if premises:
        parts.append(f"{len(premises)} premise" + ("" if len(premises) == 1 else "s"))
    if feeders:
        parts.append(f"{len(feeders)} feeder" + ("" if len(feeders) == 1 else "s"))
    return " and ".join(parts)
