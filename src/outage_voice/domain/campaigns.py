"""Outbound campaigns: what a supervisor asks for, checked; and what happens to a target
after each call. Pure: every rule that needs the time takes `now`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from outage_voice.domain.errors import DomainError, InvalidField
from outage_voice.domain.outages import parse_rfc3339
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


# What a campaign body may name, level by level: a misspelt key (`callback_request`) must
# be refused, never read as "not given", which could widen a campaign to everyone.
SPEC_FIELDS = frozenset(
    {
        "name",
        "kind",
        "audience",
        "message",
        "pacing",
        "window",
        "urgent",
        "retry",
        "voicemail",
        "priority",
        "starts_at",
        "force",
    }
)
AUDIENCE_FIELDS = frozenset({"outage_id", "callback_requests", "accounts", "premises", "feeders"})
MESSAGE_FIELDS = frozenset({"text"})
PACING_FIELDS = frozenset({"cps", "max_concurrent"})
RETRY_RULE_FIELDS = frozenset({"max_attempts", "delay_s"})


def reject_unknown(value: Mapping[str, Any], known: frozenset[str], prefix: str = "") -> None:
    """The first key not in `known` (in sorted order) is a 422 naming its dotted path."""
    unknown = sorted(set(value) - known)
    if unknown:
        raise InvalidField(
            f"{prefix}{unknown[0]}", f"unknown field (known: {', '.join(sorted(known))})"
        )


def _object(
    body: Mapping[str, Any], name: str, known: frozenset[str] | None = None
) -> Mapping[str, Any]:
    value = body.get(name, {})
    if not isinstance(value, Mapping):
        raise InvalidField(name, "must be an object")
    if known is not None:
        reject_unknown(value, known, f"{name}.")
    return value


def _ids(where: Mapping[str, Any], name: str, field_name: str) -> tuple[str, ...]:
    value = where.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidField(field_name, "must be a list of non-empty strings")
    if len(value) > MAX_AUDIENCE_KEYS:
        raise InvalidField(field_name, f"at most {MAX_AUDIENCE_KEYS:,} entries")
    return tuple(dict.fromkeys(v.strip() for v in value))


def parse_pacing(body: Mapping[str, Any]) -> tuple[float | None, int | None]:
    cps = body.get("cps")
    if cps is not None:
        if isinstance(cps, bool) or not isinstance(cps, int | float):
            raise InvalidField("cps", "must be a number")
        # Compared before any float conversion: JSON allows an integer of hundreds of digits.
        if not MIN_CPS <= cps <= MAX_CPS:
            raise InvalidField(
                "cps", f"must be above 0 (at least {MIN_CPS:g}) and at most {MAX_CPS:g}"
            )
    concurrent = body.get("max_concurrent")
    if concurrent is not None:
        if isinstance(concurrent, bool) or not isinstance(concurrent, int):
            raise InvalidField("max_concurrent", "must be a whole number")
        if not 0 < concurrent <= MAX_CONCURRENT:
            raise InvalidField("max_concurrent", f"must be 1 to {MAX_CONCURRENT:,}")
    return (None if cps is None else float(cps)), concurrent


def parse_window(value: object) -> DailyWindow:
    if not isinstance(value, str):
        raise InvalidField("window", 'must be a string like "08:00-21:00"')
    try:
        return parse_daily_window(value)
    except BadWindow as exc:
        raise InvalidField("window", str(exc)) from None


def _retry(body: Mapping[str, Any]) -> dict[Retryable, RetryRule]:
    given = _object(body, "retry")
    rules = dict(DEFAULT_RETRY)
    for name, raw in given.items():
        try:
            outcome = Retryable(name)
        except ValueError:
            names = ", ".join(r.value for r in Retryable)
            raise InvalidField(f"retry.{name}", f"unknown outcome (one of {names})") from None
        if not isinstance(raw, Mapping):
            raise InvalidField(f"retry.{name}", "must be an object")
        reject_unknown(raw, RETRY_RULE_FIELDS, f"retry.{name}.")
        attempts = raw.get("max_attempts", rules[outcome].max_attempts)
        delay = raw.get("delay_s", rules[outcome].delay_s)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
            raise InvalidField(f"retry.{name}.max_attempts", "must be 1 to 10")
        if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 7 * 86400:
            raise InvalidField(f"retry.{name}.delay_s", "must be 0 to 604800 seconds")
        rules[outcome] = RetryRule(max_attempts=attempts, delay_s=delay)
    return rules


def parse_campaign_spec(body: object, *, now: datetime) -> CampaignSpec:
    if not isinstance(body, Mapping):
        raise InvalidField("body", "must be a JSON object")
    reject_unknown(body, SPEC_FIELDS)
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise InvalidField("force", "must be true or false")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidField("name", "must be a non-empty string of at most 200 characters")
    try:
        kind = CampaignKind(str(body.get("kind")))
    except ValueError:
        kinds = ", ".join(k.value for k in CampaignKind)
        raise InvalidField("kind", f"must be one of {kinds}") from None
    where = _object(body, "audience", AUDIENCE_FIELDS)
    outage_id = where.get("outage_id")
    if outage_id is not None and (not isinstance(outage_id, str) or not outage_id.strip()):
        raise InvalidField("audience.outage_id", "must be a non-empty string")
    callbacks = where.get("callback_requests", False)
    if not isinstance(callbacks, bool):
        raise InvalidField("audience.callback_requests", "must be true or false")
    audience = Audience(
        outage_id=outage_id,
        callback_requests=callbacks,
        accounts=_ids(where, "accounts", "audience.accounts"),
        premises=_ids(where, "premises", "audience.premises"),
        feeders=_ids(where, "feeders", "audience.feeders"),
    )
    if callbacks and outage_id is None:
        raise InvalidField("audience.callback_requests", "needs audience.outage_id")
    if not (outage_id or audience.accounts or audience.premises or audience.feeders):
        raise InvalidField(
            "audience", "name an outage_id, or accounts, premises or feeders to call"
        )
    if kind in NEEDS_OUTAGE and outage_id is None:
        raise InvalidField("audience.outage_id", f"a {kind.value} campaign is about an outage")
    raw_message = _object(body, "message", MESSAGE_FIELDS)
    text = raw_message.get("text")
    if kind is CampaignKind.CUSTOM:
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_CUSTOM_TEXT:
            raise InvalidField(
                "message.text", f"a custom campaign needs text of 1 to {MAX_CUSTOM_TEXT} characters"
            )
        message = Message(text=" ".join(text.split()))
    else:
        if text is not None:
            raise InvalidField("message.text", f"a {kind.value} campaign speaks its own message")
        message = Message(key=KIND_MESSAGES[kind])
    pacing = _object(body, "pacing", PACING_FIELDS)
    cps, concurrent = parse_pacing(pacing)
    window = parse_window(body.get("window", DEFAULT_WINDOW))
    urgent = body.get("urgent", False)
    if not isinstance(urgent, bool):
        raise InvalidField("urgent", "must be true or false")
    voicemail = body.get("voicemail", "message")
    if voicemail not in ("message", "hangup"):
        raise InvalidField("voicemail", 'must be "message" or "hangup"')
    priority = body.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or not -100 <= priority <= 100:
        raise InvalidField("priority", "must be a whole number from -100 to 100")
    raw_start = body.get("starts_at")
    starts_at = None if raw_start is None else parse_rfc3339("starts_at", raw_start)
    return CampaignSpec(
        name=name.strip(),
        kind=kind,
        audience=audience,
        message=message,
        cps=DEFAULT_CPS if cps is None else cps,
        max_concurrent=DEFAULT_MAX_CONCURRENT if concurrent is None else concurrent,
        window=window,
        urgent=urgent,
        retry=_retry(body),
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
