"""What surveys need from storage: the survey campaign with its audience, the calls it made
with their answers, definitions, and the call-back list. Implemented in adapters/db/surveys.py;
frozen records in and out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from outage_voice.domain.campaigns import CampaignSpec


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyOutage:
    pk: int
    oms_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyAudience:
    """Who a survey campaign asks: the numbers it may call (`share`: sampled, as
    domain.survey.in_sample draws; None: everyone eligible) and how long since a number's
    last survey call it may be asked again."""

    outage: SurveyOutage
    gap_s: int
    share: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyStarted:
    campaign_id: int
    created: bool  # False: the schedule row's campaign existed already
    targets: int  # numbers to call
    excluded: Mapping[str, int]  # numbers left out, by reason


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyCall:
    """One number a survey campaign called (however many times), with what it answered."""

    survey: str
    campaign_id: int
    outage_id: str | None  # the OMS's id
    phone: str
    account_numbers: tuple[str, ...]
    language: str
    called_at: datetime | None
    answered: bool  # a completed call no machine answered
    # As stored: a scale's 1 to 5; yes 1, no 0. By question key.
    answers: Mapping[str, int]
    comment_s: int | None
    callback: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyCallback:
    id: int
    campaign_id: int
    outage_id: str | None
    phone: str
    account_numbers: tuple[str, ...]
    requested_at: datetime
    handled_at: datetime | None
    handled_by: str | None


class SurveyStore(Protocol):
    async def outage_by_pk(self, outage_pk: int) -> SurveyOutage | None: ...

    async def outage(self, oms_id: str) -> SurveyOutage | None: ...

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
        """The campaign, running, with every number of the outage written as a target to
        call or excluded with its reason, in one transaction. With `schedule_id` (an
        automatic survey) found instead when that row made one already."""
        ...

    async def definition(self, survey_id: str) -> object | None:
        """A supervisor's stored definition (JSON), None when there is none."""
        ...

    async def definitions(self) -> list[tuple[str, object]]:
        """Every stored definition (id, JSON), by id."""
        ...

    async def save_definition(
        self, survey_id: str, definition: Mapping[str, Any], *, actor: str, now: datetime
    ) -> bool:
        """Stored under its id, replacing the one there; True when it is new."""
        ...

    async def calls(self, *, survey_id: str | None, outage_id: str | None) -> list[SurveyCall]:
        """Every number the survey's campaigns called, campaign by campaign."""
        ...

    async def callbacks(self, *, open_only: bool, limit: int) -> list[SurveyCallback]: ...

    async def handle_callback(
        self, callback_id: int, *, actor: str, now: datetime
    ) -> SurveyCallback | None:
        """Marked handled (once: a second time changes nothing); None for an unknown id."""
        ...
