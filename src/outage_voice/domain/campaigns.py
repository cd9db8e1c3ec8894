"""Outbound campaigns: what a supervisor asks for, checked; and what happens to a target
after each call. Pure: every rule that needs the time takes `now`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from outage_voice.domain.errors import DomainError, InvalidField
from outage_voice.domain.windows import BadWindow, DailyWindow, parse_daily_window

DEFAULT_WINDOW = "08:00-21:00"
DEFAULT_CPS = 5.0
DEFAULT_MAX_CONCURRENT = 50
MAX_CPS = 1000.0
# One call every 100 s; slower means a campaign that never ends (and an ETA past any clock).
MIN_CPS = 0.01
MAX_CONCURRENT = 10_000
MAX_AUDIENCE_KEYS = 1_000_000
MAX_CUSTOM_TEXT = 600
# An answered call with its message and menu, for estimates (a campaign measures its own).
TYPICAL_CALL_S = 35.0


class CampaignKind(StrEnum):
    OUTAGE_ACK = "outage_ack"
    ETR_UPDATE = "etr_update"
    RESTORATION = "restoration"
    PLANNED_NOTICE = "planned_notice"
    CUSTOM = "custom"
    # A post-outage survey: asked by domain.flows.survey_call, never by the message menu.
    SURVEY = "survey"


# The catalog message each kind speaks; the outage supplies its variables.
KIND_MESSAGES: Mapping[CampaignKind, str] = {
    CampaignKind.OUTAGE_ACK: "outage_acknowledged",
    CampaignKind.ETR_UPDATE: "etr_changed",
    CampaignKind.RESTORATION: "restored",
    CampaignKind.PLANNED_NOTICE: "planned_notice",
}
NEEDS_OUTAGE = frozenset(KIND_MESSAGES)


class CampaignState(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# action -> (states it may be taken from, state it leads to)
TRANSITIONS: Mapping[str, tuple[frozenset[CampaignState], CampaignState]] = {
    "start": (frozenset({CampaignState.DRAFT}), CampaignState.RUNNING),
    "pause": (frozenset({CampaignState.RUNNING}), CampaignState.PAUSED),
    "resume": (frozenset({CampaignState.PAUSED}), CampaignState.RUNNING),
    "cancel": (
        frozenset({CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.PAUSED}),
        CampaignState.CANCELLED,
    ),
}


class BadTransition(DomainError):
    def __init__(self, action: str, state: CampaignState) -> None:
        super().__init__(f"cannot {action} a campaign that is {state.value}")
        self.action = action
        self.state = state


class OutageNotRestored(DomainError):
    """A restoration campaign tells every customer on the outage that their power is back:
    refused while the OMS says it is not, unless the supervisor insists (`force`)."""

    def __init__(self, outage_id: str, status: str) -> None:
        super().__init__(
            f"outage {outage_id!r} is {status}, not restored: a restoration campaign would "
            "tell its customers their power is back"
        )
        self.outage_id = outage_id
        self.status = status


def check_all_clear(kind: CampaignKind, outage_id: str, status: str, *, force: bool) -> None:
    """Raises OutageNotRestored for a restoration campaign on an outage not restored."""
    if kind is CampaignKind.RESTORATION and status != "restored" and not force:
        raise OutageNotRestored(outage_id, status)


def transition(action: str, state: CampaignState) -> CampaignState:
    allowed, target = TRANSITIONS[action]
    if state not in allowed:
        raise BadTransition(action, state)
    return target


class Retryable(StrEnum):
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    VOICEMAIL = "voicemail"


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryRule:
    max_attempts: int  # calls in all for a target whose calls keep ending this way
    delay_s: int


DEFAULT_RETRY: Mapping[Retryable, RetryRule] = {
    Retryable.BUSY: RetryRule(max_attempts=3, delay_s=300),
    Retryable.NO_ANSWER: RetryRule(max_attempts=3, delay_s=1800),
    Retryable.FAILED: RetryRule(max_attempts=2, delay_s=600),
    Retryable.VOICEMAIL: RetryRule(max_attempts=1, delay_s=3600),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Audience:
    outage_id: str | None = None
    callback_requests: bool = False  # only those who asked for a call back on that outage
    accounts: tuple[str, ...] = ()
    premises: tuple[str, ...] = ()
    feeders: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    key: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    text: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignSpec:
    name: str
    kind: CampaignKind
    audience: Audience
    message: Message
    cps: float
    max_concurrent: int
    window: DailyWindow
    urgent: bool
    retry: Mapping[Retryable, RetryRule]
    voicemail: str  # "message": leave the voicemail version after the beep; "hangup"
    priority: int
    starts_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "audience": {
                "outage_id": self.audience.outage_id,
                "callback_requests": self.audience.callback_requests,
                "accounts": list(self.audience.accounts),
                "premises": list(self.audience.premises),
                "feeders": list(self.audience.feeders),
            },
            "message": {
                "key": self.message.key,
                "variables": dict(self.message.variables),
                "text": self.message.text,
            },
            "cps": self.cps,
            "max_concurrent": self.max_concurrent,
            "window": self.window.describe(),
            "urgent": self.urgent,
            "retry": {
                outcome.value: {"max_attempts": rule.max_attempts, "delay_s": rule.delay_s}
                for outcome, rule in self.retry.items()
            },
            "voicemail": self.voicemail,
            "priority": self.priority,
            "starts_at": None if self.starts_at is None else self.starts_at.isoformat(),
        }


# Checks on what a supervisor asks for, whoever asks (the API parses its JSON into these
# arguments; the shell passes its options). Errors name the API's fields.
NAME_A_PACING_FIELD = "name at least one of cps, max_concurrent, window, priority"


def check_cps(cps: float) -> float:
    # Compared before any float conversion: JSON allows an integer of hundreds of digits.
    if not MIN_CPS <= cps <= MAX_CPS:
        raise InvalidField("cps", f"must be above 0 (at least {MIN_CPS:g}) and at most {MAX_CPS:g}")
    return float(cps)


def check_max_concurrent(concurrent: int) -> int:
    if not 0 < concurrent <= MAX_CONCURRENT:
        raise InvalidField("max_concurrent", f"must be 1 to {MAX_CONCURRENT:,}")
    return concurrent


def check_priority(priority: int) -> int:
    if not -100 <= priority <= 100:
        raise InvalidField("priority", "must be a whole number from -100 to 100")
    return priority


def parse_window(text: str) -> DailyWindow:
    try:
        return parse_daily_window(text)
    except BadWindow as exc:
        raise InvalidField("window", str(exc)) from None


@dataclass(frozen=True, kw_only=True, slots=True)
class PacingChange:
    """What a supervisor changes on a campaign under way; None: left as it is."""

    cps: float | None = None
    max_concurrent: int | None = None
    window: DailyWindow | None = None
    priority: int | None = None


def pacing_change(
    *,
    cps: float | None = None,
    max_concurrent: int | None = None,
    window: str | None = None,
    priority: int | None = None,
) -> PacingChange:
    return PacingChange(
        cps=None if cps is None else check_cps(cps),
        max_concurrent=None if max_concurrent is None else check_max_concurrent(max_concurrent),
        window=None if window is None else parse_window(window),
        priority=None if priority is None else check_priority(priority),
    )


def check_name(name: str) -> str:
    if not name.strip() or len(name) > 200:
        raise InvalidField("name", "must be a non-empty string of at most 200 characters")
    return name.strip()


def check_outage_id(outage_id: str | None) -> str | None:
    if outage_id is not None and not outage_id.strip():
        raise InvalidField("audience.outage_id", "must be a non-empty string")
    return outage_id


def check_keys(values: Sequence[str], field_name: str) -> tuple[str, ...]:
    """Audience keys (accounts, premises or feeders): stripped, each once, in order."""
    if not all(value.strip() for value in values):
        raise InvalidField(field_name, "must be a list of non-empty strings")
    if len(values) > MAX_AUDIENCE_KEYS:
        raise InvalidField(field_name, f"at most {MAX_AUDIENCE_KEYS:,} entries")
    return tuple(dict.fromkeys(value.strip() for value in values))


def check_audience(audience: Audience, kind: CampaignKind) -> Audience:
    if audience.callback_requests and audience.outage_id is None:
        raise InvalidField("audience.callback_requests", "needs audience.outage_id")
    if not (audience.outage_id or audience.accounts or audience.premises or audience.feeders):
        raise InvalidField(
            "audience", "name an outage_id, or accounts, premises or feeders to call"
        )
    if kind in NEEDS_OUTAGE and audience.outage_id is None:
        raise InvalidField("audience.outage_id", f"a {kind.value} campaign is about an outage")
    return audience


def campaign_message(kind: CampaignKind, text: str | None) -> Message:
    """A custom campaign's own text (spaces folded); every other kind's catalog message."""
    if kind is CampaignKind.CUSTOM:
        if text is None or not text.strip() or len(text) > MAX_CUSTOM_TEXT:
            raise InvalidField(
                "message.text", f"a custom campaign needs text of 1 to {MAX_CUSTOM_TEXT} characters"
            )
        return Message(text=" ".join(text.split()))
    if text is not None:
        raise InvalidField("message.text", f"a {kind.value} campaign speaks its own message")
    return Message(key=KIND_MESSAGES[kind])


def check_voicemail(voicemail: str) -> str:
    if voicemail not in ("message", "hangup"):
        raise InvalidField("voicemail", 'must be "message" or "hangup"')
    return voicemail


def check_retry_rule(outcome: Retryable, rule: RetryRule) -> RetryRule:
    if not 1 <= rule.max_attempts <= 10:
        raise InvalidField(f"retry.{outcome.value}.max_attempts", "must be 1 to 10")
    if not 0 <= rule.delay_s <= 7 * 86400:
        raise InvalidField(f"retry.{outcome.value}.delay_s", "must be 0 to 604800 seconds")
    return rule


def new_campaign_spec(
    *,
    name: str,
    kind: CampaignKind,
    outage_id: str | None = None,
    callback_requests: bool = False,
    accounts: Sequence[str] = (),
    premises: Sequence[str] = (),
    feeders: Sequence[str] = (),
    text: str | None = None,
    cps: float | None = None,
    max_concurrent: int | None = None,
    window: str = DEFAULT_WINDOW,
    urgent: bool = False,
    retry: Mapping[Retryable, RetryRule] | None = None,
    voicemail: str = "message",
    priority: int = 0,
    starts_at: datetime | None = None,
) -> CampaignSpec:
    """A campaign as asked for, checked; `retry` rules replace the defaults outcome by
    outcome. Raises InvalidField naming the API's field (the API checks in this order too)."""
    name = check_name(name)
    audience = Audience(
        outage_id=check_outage_id(outage_id),
        callback_requests=callback_requests,
        accounts=check_keys(accounts, "audience.accounts"),
        premises=check_keys(premises, "audience.premises"),
        feeders=check_keys(feeders, "audience.feeders"),
    )
    check_audience(audience, kind)
    message = campaign_message(kind, text)
    pacing = pacing_change(cps=cps, max_concurrent=max_concurrent, window=window)
    voicemail = check_voicemail(voicemail)
    priority = check_priority(priority)
    rules = dict(DEFAULT_RETRY)
    for outcome, rule in (retry or {}).items():
        rules[outcome] = check_retry_rule(outcome, rule)
    assert pacing.window is not None  # a window was given: the default one at least
    return CampaignSpec(
        name=name,
        kind=kind,
        audience=audience,
        message=message,
        cps=DEFAULT_CPS if pacing.cps is None else pacing.cps,
        max_concurrent=(
            DEFAULT_MAX_CONCURRENT if pacing.max_concurrent is None else pacing.max_concurrent
        ),
        window=pacing.window,
        urgent=urgent,
        retry=rules,
        voicemail=voicemail,
        priority=priority,
        starts_at=starts_at,
    )


def estimate_duration_s(
    *, targets: int, cps: float, max_concurrent: int, call_s: float = TYPICAL_CALL_S
) -> float:
    """Seconds to place one call to every target: the slower of the pacing and of the
    concurrency cap (each line busy for about `call_s`). Calling windows add the closed
    hours on top; retries add their delays."""
    if targets <= 0:
        return 0.0
    by_pacing = targets / cps
    by_lines = targets * call_s / max_concurrent
    return max(by_pacing, by_lines)


# ---- after a call ------------------------------------------------------------------------

FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Our own final status for a call the carrier no longer knows (404 / 20404 on every lookup):
# it ended somehow, unheard, and its target is treated as a failed call.
LOST = "lost"
ENDING_STATUSES = FINAL_STATUSES | {LOST}
STATUS_RANK: Mapping[str, int] = {
    "placing": 0,
    "queued": 1,
    "initiated": 2,
    "ringing": 3,
    "in-progress": 4,
    **{status: 5 for status in ENDING_STATUSES},
}
# Outcomes without a retry rule of their own that follow another's.
RETRIED_AS: Mapping[str, Retryable] = {LOST: Retryable.FAILED}
# Twilio error codes that mean the number can never be reached: never retried.
PERMANENT_ERRORS = frozenset({13223, 13224, 13225, 13226, 21211, 21214, 21215, 21216, 21217, 21610})


def moves_forward(current: str, new: str) -> bool:
    """Statuses only move forward; a final status is never replaced."""
    return STATUS_RANK.get(new, -1) > STATUS_RANK.get(current, -1)


def call_outcome(status: str, answered_by: str | None, error_code: int | None) -> str:
    if status == "completed":
        if answered_by and (answered_by.startswith("machine") or answered_by == "fax"):
            return "voicemail" if answered_by.startswith("machine") else "failed"
        return "reached"
    if status == "failed" and error_code in PERMANENT_ERRORS:
        return "invalid"
    return {"busy": "busy", "no-answer": "no_answer", "canceled": "canceled", LOST: LOST}.get(
        status, "failed"
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class NextStep:
    done: bool
    outcome: str
    retry_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class EndingAttempt:
    """A call attempt at its final status: what its target's fate is decided on."""

    campaign_id: int
    attempt_no: int
    answered_by: str | None
    error_code: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetEnd:
    done: bool
    outcome: str
    retry_at: datetime | None = None
    phone_invalid: bool = False  # the carrier said the number can never be reached


def after_call(
    outcome: str, *, attempts: int, retry: Mapping[Retryable, RetryRule], now: datetime
) -> NextStep:
    """Done with this outcome, or call again at `retry_at` as the policy allows."""
    try:
        rule = retry[RETRIED_AS.get(outcome) or Retryable(outcome)]
    except (ValueError, KeyError):
        return NextStep(done=True, outcome=outcome)
    if attempts >= rule.max_attempts:
        return NextStep(done=True, outcome=outcome)
    return NextStep(done=False, outcome=outcome, retry_at=now + timedelta(seconds=rule.delay_s))


def retry_from_json(raw: Mapping[str, Any]) -> dict[Retryable, RetryRule]:
    return {
        Retryable(name): RetryRule(max_attempts=rule["max_attempts"], delay_s=rule["delay_s"])
        for name, rule in raw.items()
    }


def message_from_json(raw: Mapping[str, Any]) -> Message:
    return Message(
        key=raw.get("key"), variables=dict(raw.get("variables") or {}), text=raw.get("text")
    )


def spec_from_json(raw: Mapping[str, Any]) -> CampaignSpec:
    """A spec as `CampaignSpec.as_json` stored it; fields an older server did not store
    read as their defaults."""
    audience: Mapping[str, Any] = raw.get("audience") or {}
    message: Mapping[str, Any] = raw.get("message") or {}
    starts_at = raw.get("starts_at")
    return CampaignSpec(
        name=raw["name"],
        kind=CampaignKind(raw["kind"]),
        audience=Audience(
            outage_id=audience.get("outage_id"),
            callback_requests=bool(audience.get("callback_requests")),
            accounts=tuple(audience.get("accounts") or ()),
            premises=tuple(audience.get("premises") or ()),
            feeders=tuple(audience.get("feeders") or ()),
        ),
        message=message_from_json(message),
        cps=float(raw.get("cps", DEFAULT_CPS)),
        max_concurrent=int(raw.get("max_concurrent", DEFAULT_MAX_CONCURRENT)),
        window=parse_daily_window(raw.get("window") or DEFAULT_WINDOW),
        urgent=bool(raw.get("urgent")),
        retry=retry_from_json(raw.get("retry") or {}) or dict(DEFAULT_RETRY),
        voicemail=raw.get("voicemail") or "message",
        priority=int(raw.get("priority") or 0),
        starts_at=None if starts_at is None else datetime.fromisoformat(starts_at),
    )
