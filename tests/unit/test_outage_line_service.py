"""The service that runs the outage line's flow: it carries out what a step asks for and
feeds the answers back, and a database that is away costs the caller nothing they asked for."""

from __future__ import annotations

from typing import Any

from outage_voice.adapters.clock import ManualClock
from outage_voice.domain.flows.actions import Gather, Redirect, Say, SayStatus
from outage_voice.domain.flows.outage_line import (
    Heard,
    LineState,
    OutageLine,
    Stage,
)
from outage_voice.domain.inbound_calls import CallStep
from outage_voice.domain.status import LookupKey, StatusLookup
from outage_voice.services.ivr import IvrService
from outage_voice.services.outage_line import CallContext, OutageLineService
from tests.support import T0
from tests.unit.test_call_flows import CONFIG, ELM, OAK


class Away(ConnectionError):
    pass


class Directory:
    def __init__(self, *, away: bool = False) -> None:
        self.away = away

    async def _answer(self, key: LookupKey, value: str) -> StatusLookup:
        if self.away:
            raise Away("database away")
        found = [a for a in (OAK, ELM) if value in (a.premise.premise_id, a.account_number)]
        return StatusLookup(key=key, accounts=tuple(found))

    async def by_phone(self, raw_phone: str) -> StatusLookup:
        return await self._answer(LookupKey.PHONE, raw_phone)

    async def by_account(self, account_number: str) -> StatusLookup:
        return await self._answer(LookupKey.ACCOUNT, account_number)

    async def by_premise(self, premise_id: str) -> StatusLookup:
        return await self._answer(LookupKey.PREMISE, premise_id)


class Requests:
    """The IVR's store, away or not."""

    def __init__(self, *, away: bool) -> None:
        self.away = away
        self.written: list[str] = []

    async def active_outage_id(self, premise_id: str) -> int | None:
        if self.away:
            raise Away("database away")
        return 1

    async def add_report(self, *, kind: str, **fields: Any) -> bool:
        self.written.append(kind)
        return True

    async def call_has_report(self, call_sid: str, kind: str) -> bool:
        return True

    async def add_callback(self, **fields: Any) -> None:
        self.written.append("callback")


class Spool:
    def __init__(self) -> None:
        self.spooled: list[tuple[str, dict[str, Any]]] = []

    async def add(self, kind: str, **request: Any) -> None:
        self.spooled.append((kind, request))


class Notes:
    def __init__(self) -> None:
        self.steps: list[CallStep] = []

    def step(self, step: CallStep) -> None:
        self.steps.append(step)


CALL = CallContext(call_sid="CA1", caller="+15125550102")


def _service(
    *, lookup_away: bool = False, store_away: bool = False
) -> tuple[OutageLineService, Requests, Spool, Notes]:
    clock = ManualClock(T0)
    requests, spool, notes = Requests(away=store_away), Spool(), Notes()
    service = OutageLineService(
        line=OutageLine(CONFIG),
        lookup=Directory(away=lookup_away),
        ivr=IvrService(requests, clock),
        spool=spool,
        notes=notes,
        clock=clock,
        unavailable=lambda exc: isinstance(exc, Away),
    )
    return service, requests, spool, notes


def _said(heard: list[Any]) -> list[str]:
    words: list[str] = []
    for action in heard:
        for prompt in action.prompts if isinstance(action, Gather) else (action,):
            if isinstance(prompt, Say):
                words.append(prompt.key)
            elif isinstance(prompt, SayStatus):
                words.append(f"status:{prompt.account.premise.premise_id}")
    return words


MENU_P2 = LineState(stage=Stage.MENU, language="es", premise_id="P2", account_number="1002")


async def test_a_known_caller_hears_status_and_the_call_is_noted() -> None:
    service, _, _, notes = _service()
    heard = await service.start(CallContext(call_sid="CA1", caller="1001"))
    assert _said(heard) == ["status:P1", "menu"]
    (step,) = notes.steps
    assert (step.step, step.account_number, step.premise_id, step.at) == (
        "status",
        "1001",
        "P1",
        T0,
    )
    assert isinstance(heard[-1], Redirect) and heard[-1].then.repeat == 1


async def test_a_report_with_the_database_away_is_spooled_and_heard_as_recorded() -> None:
    service, requests, spool, notes = _service(store_away=True)
    heard = await service.run(MENU_P2, Heard(keys="1"), CALL)
    assert _said(heard) == ["report_recorded_no_address", "menu"]
    assert requests.written == []
    assert [(kind, r["premise_id"], r["phone"]) for kind, r in spool.spooled] == [
        ("outage", "P2", "+15125550102")
    ]
    assert [step.step for step in notes.steps] == ["menu:1", "report"]


async def test_a_call_back_with_the_database_away_gives_way_to_the_high_volume_message() -> None:
    service, requests, spool, notes = _service(store_away=True)
    heard = await service.run(MENU_P2, Heard(keys="3"), CALL)
    assert _said(heard) == ["high_volume", "menu"]
    assert (requests.written, spool.spooled) == ([], [])
    assert [step.step for step in notes.steps] == ["menu:3", "degraded"]
    menu = next(action.then for action in heard if isinstance(action, Gather))
    assert (menu.language, menu.premise_id) == ("en", "P2")  # still reports for their home


async def test_the_database_away_when_the_call_arrives() -> None:
    service, _, _, notes = _service(lookup_away=True)
    heard = await service.start(CALL)
    assert _said(heard) == ["high_volume", "menu"]
    assert [step.step for step in notes.steps] == ["degraded"]


async def test_a_hazard_report_is_written_and_the_caller_transferred() -> None:
    service, requests, _, notes = _service()
    heard = await service.run(MENU_P2, Heard(keys="2"), CALL)
    assert _said(heard) == ["hazard", "hazard_transfer"]
    assert requests.written == ["hazard"]
    assert [step.step for step in notes.steps] == ["menu:2", "hazard_transfer"]
