"""How an inbound call went, for containment reporting.

Each webhook step notes what the caller did; the call's outcome is the strongest thing that
happened in it, so a caller who reported an outage and then asked for a person counts as
transferred (the line did not contain the call), whatever order the steps arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class ReportOutcome(StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"  # another caller (or this one) reported this outage at this premise


class CallOutcome(StrEnum):
    ABANDONED = "abandoned"  # hung up before hearing a status or doing anything
    SELF_SERVED = "self_served"  # heard their status and needed nothing more
    REPORTED = "reported"  # reported an outage or a hazard through the menu
    CALLBACK_REQUESTED = "callback_requested"
    TRANSFERRED = "transferred"  # handed to a person (agent or emergency line)


# Weakest to strongest: the outcome of a call is the strongest one seen.
OUTCOME_ORDER: tuple[CallOutcome, ...] = tuple(CallOutcome)
CONTAINED = frozenset(
    {CallOutcome.SELF_SERVED, CallOutcome.REPORTED, CallOutcome.CALLBACK_REQUESTED}
)
MAX_PATH_STEPS = 64  # a caller looping the menu should not grow a row without bound


def stronger(a: CallOutcome, b: CallOutcome) -> CallOutcome:
    return a if OUTCOME_ORDER.index(a) >= OUTCOME_ORDER.index(b) else b


@dataclass(frozen=True, kw_only=True, slots=True)
class CallStep:
    call_sid: str
    caller: str
    at: datetime
    step: str
    outcome: CallOutcome = CallOutcome.ABANDONED
    account_number: str | None = None
    premise_id: str | None = None
    language: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallEnd:
    call_sid: str
    at: datetime
    duration_s: int | None
    status: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CallRecordDelta:
    """What one batch adds to one call's record (several steps may arrive together)."""

    call_sid: str
    caller: str
    first_at: datetime
    last_at: datetime
    path: tuple[str, ...]
    outcome: CallOutcome
    account_number: str | None = None
    premise_id: str | None = None
    language: str | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None
    end_status: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallSummary:
    """One call on the line as recorded: how it ended, and the menu steps it went through."""

    call_sid: str
    outcome: CallOutcome
    path: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class OutcomeTally:
    """How many calls in a period ended one way, and how long they lasted on average."""

    outcome: CallOutcome
    calls: int
    avg_duration_s: float


def fold(events: list[CallStep | CallEnd]) -> list[CallRecordDelta]:
    """Collapses a batch of events into one delta per call, keeping step order."""
    deltas: dict[str, CallRecordDelta] = {}
    for event in events:
        delta = deltas.get(event.call_sid) or CallRecordDelta(
            call_sid=event.call_sid,
            caller=event.caller if isinstance(event, CallStep) else "",
            first_at=event.at,
            last_at=event.at,
            path=(),
            outcome=CallOutcome.ABANDONED,
        )
        if isinstance(event, CallStep):
            delta = replace(
                delta,
                path=(*delta.path, event.step) if len(delta.path) < MAX_PATH_STEPS else delta.path,
                first_at=min(delta.first_at, event.at),
                last_at=max(delta.last_at, event.at),
                outcome=stronger(delta.outcome, event.outcome),
                account_number=event.account_number or delta.account_number,
                premise_id=event.premise_id or delta.premise_id,
                language=event.language or delta.language,
            )
        elif delta.ended_at is None:  # the first end is the call's; later copies are retries
            delta = replace(
                delta, ended_at=event.at, duration_s=event.duration_s, end_status=event.status
            )
        deltas[event.call_sid] = delta
    return list(deltas.values())


# How an inbound call's caller was identified, as its recorded steps show; a few names only,
# so that a count by path stays a handful of series whatever the callers do.
CALL_PATHS = frozenset({"caller_id", "entered_number", "unidentified", "degraded", "none"})


def call_path(steps: tuple[str, ...]) -> str:
    """caller_id: heard their status at once; entered_number: found after keying a number;
    unidentified: never found; degraded: answered without the database; none: no step."""
    if not steps:
        return "none"
    if "degraded" in steps:
        return "degraded"
    if steps[0] == "status":
        return "caller_id"
    if "status" in steps:
        return "entered_number"
    return "unidentified"
