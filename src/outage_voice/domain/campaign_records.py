"""What the campaign services read from and hand to storage: campaigns as stored, their
progress, and call attempts as the dialer and the status callbacks see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from outage_voice.domain.campaigns import CampaignKind, CampaignSpec, CampaignState, Message
from outage_voice.domain.windows import DailyWindow


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignTrigger:
    """What started an automatic campaign: an outage's change (its outbox event) and the
    event it was (confirmed, etr_changed, restored...)."""

    outage_id: str | None  # the OMS's id
    event: str
    event_id: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Campaign:
    """A campaign as stored: the spec it was created with, and its pacing now (changed since,
    perhaps, by a supervisor)."""

    id: int
    name: str
    kind: CampaignKind
    state: CampaignState
    spec: CampaignSpec
    outage_pk: int | None
    cps: float
    max_concurrent: int
    window: DailyWindow
    urgent: bool
    priority: int
    starts_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # Created by the outage automation rather than by a person, and what started it.
    automatic: bool = False
    trigger: CampaignTrigger | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetCount:
    state: str
    outcome: str  # "" when none
    targets: int


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptCounts:
    attempts: int  # placed, ended or not
    live: int
    placed_recently: int
    first_placed: datetime | None
    last_placed: datetime | None


NO_ATTEMPTS = AttemptCounts(
    attempts=0, live=0, placed_recently=0, first_placed=None, last_placed=None
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignProgress:
    """A campaign and its counts as of one moment: a view read in pieces could say
    "completed" while counting calls that were still live when it counted them."""

    campaign: Campaign
    targets: list[TargetCount]
    attempts: AttemptCounts


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageRef:
    """The outage a campaign is about: its row, and its status as the OMS last sent it."""

    pk: int
    status: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedCampaign:
    campaign_id: int
    unknown_keys: dict[str, int]  # audience keys that matched nothing, by kind
    targets: list[TargetCount]  # as written
    # The first few of those keys by kind (in key order), for a person to recognise them.
    unknown_examples: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunningCampaign:
    """A running campaign as the dialer paces it."""

    id: int
    cps: float
    max_concurrent: int
    window: DailyWindow
    urgent: bool
    live: int  # its calls not ended
    kind: CampaignKind  # a survey's calls are answered by the survey, not the message menu
    expires_at: datetime | None = None  # no call placed at or after it (a stale notice)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimedAttempt:
    """An attempt committed for a target, to be placed."""

    id: int
    target_id: int
    phone: str
    attempt_no: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimedBatch:
    attempts: list[ClaimedAttempt]  # committed, one per target claimed, in this order
    # Targets never tried that the claim found outside their calling window: now due, for
    # the dialer to defer to the window's opening.
    out_of_window: int


@dataclass(frozen=True, kw_only=True, slots=True)
class UnconfirmedAttempt:
    """An attempt committed with no call id: the carrier may or may not have the call."""

    id: int
    phone: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveCall:
    """An attempt placed whose end is not known yet."""

    attempt_id: int
    call_sid: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptContext:
    """An answered call's attempt, with its target and campaign: what it will hear."""

    id: int
    target_id: int
    campaign_id: int
    phone: str
    attempt_no: int
    answered_by: str | None
    account_numbers: tuple[str, ...]
    premise_ids: tuple[str, ...]
    language: str
    timezone: str
    outcome: str | None
    kind: CampaignKind
    message: Message
    voicemail: str  # as the campaign's spec says: "message" or "hangup"
    outage_id: str | None  # the OMS's id of the outage the campaign is about
    answers_call_backs: bool  # the campaign calls back those who asked the outage line
    outage_pk: int | None
    campaign_state: CampaignState
    automatic: bool = False  # the outage automation's campaign


@dataclass(frozen=True, kw_only=True, slots=True)
class StillOutReport:
    """A customer on a campaign call saying their power is still out."""

    premise_id: str | None
    account_number: str | None
    outage_pk: int | None
    phone: str
    call_sid: str
    campaign_id: int
    attempt_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CallUrls:
    """Where the carrier asks about a placed call: what it says when answered, and where its
    status callbacks go. Both name the attempt, so a crash loses no call's end."""

    answer: str
    status: str
