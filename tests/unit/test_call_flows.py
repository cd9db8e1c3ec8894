"""The call flows as transcripts: who calls, what they press, what they hear and what the
line records, without a server, a database or a carrier.

Each row is one caller. A transcript lists, in order, what was said (message keys; `@es`
when in Spanish; `(x)` for a phone said), the status announcement (`status:<premise>`), and
the intents the service carries out (`#step` notes for call records, `report:<premise>`,
`hazard:<premise>`, `callback:<premise>:<language>`, `find:<digits>`, `premise:<id>` for a
premise looked up, `dial:<number>`, `hangup`). A new menu option is one row here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outage_voice.adapters.twilio.signature import Verdict, check_webhook, compute_signature
from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.flows.actions import (
    Dial,
    Gather,
    Hangup,
    Redirect,
    Say,
    SayMessage,
    SayStatus,
)
from outage_voice.domain.flows.campaign_call import (
    Answered,
    AnsweredBy,
    CallEvent,
    CallMenuState,
    CampaignCall,
    CampaignCallConfig,
    CampaignCallFlow,
    Delivered,
    NoKey,
    OptOut,
    Pressed,
    StillOut,
    answered_by,
    call_from_query,
    call_to_query,
)
from outage_voice.domain.flows.outage_line import (
    ANSWERED_INTENTS,
    CallbackTaken,
    CallStarted,
    Event,
    FindCaller,
    FindPremise,
    Found,
    Heard,
    LineAction,
    LineConfig,
    LineState,
    Note,
    OutageLine,
    RecordHazard,
    RecordReport,
    Reported,
    RequestCallback,
    Silence,
    Stage,
    StoreUnavailable,
    Unclear,
    from_query,
    to_query,
)
from outage_voice.domain.inbound_calls import CallOutcome, ReportOutcome
from outage_voice.domain.outages import CrewStatus, OutageStatus
from outage_voice.domain.prompts import Segment
from outage_voice.domain.status import (
    AccountStatus,
    ActiveOutage,
    LookupKey,
    Premise,
    StatusLookup,
)
from outage_voice.domain.windows import ALWAYS, parse_daily_window
from tests.support import T0

CALLER = "+15125550100"
EMERGENCY = "+15125550911"
AGENT = "+15125550777"
STORM = ActiveOutage(
    outage_id="STORM-1",
    status=OutageStatus.CREW_ON_SITE,
    cause="storm damage",
    crew_status=CrewStatus.ON_SITE,
    etr=T0 + timedelta(hours=4),
    planned=False,
    starts_at=None,
    ends_at=None,
    updated_at=T0,
)


def _account(
    number: str, premise: str, address: str, *, language: str = "en", out: bool = True
) -> AccountStatus:
    return AccountStatus(
        account_number=number,
        name="A Customer",
        premise=Premise(
            premise_id=premise,
            service_address=address,
            feeder_id="F1",
            timezone="America/Chicago",
            language=language,
        ),
        outage=STORM if out else None,
    )


OAK = _account("1001", "P1", "12 Oak Street")
ELM = _account("1002", "P2", "40 Elm Street", language="es-MX")
CEDAR = _account("1003", "P3", "9 Cedar Lane", out=False)
PECAN = _account("1005", "P5", "77 Pecan Drive", out=False)
MESQUITE = _account("1006", "P6", "3 Mesquite Trail")


def _found(*accounts: AccountStatus, key: LookupKey = LookupKey.PHONE) -> StatusLookup:
    return StatusLookup(key=key, accounts=accounts)


NOBODY = _found()
CONFIG = LineConfig(
    languages=frozenset({"en", "es"}),
    agent_number=AGENT,
    agent_hours=ALWAYS,
    timezone="America/Chicago",
    emergency_number=EMERGENCY,
    public_emergency_number="911",
)


@dataclasses.dataclass(frozen=True)
class World:
    """What the service's stores answer. `away`: intents that find the database away (a
    report is then spooled: recorded, without an address to say)."""

    directory: dict[str, StatusLookup] = dataclasses.field(default_factory=dict)
    report: ReportOutcome = ReportOutcome.RECORDED
    away: tuple[type, ...] = ()


PREMISES = {
    a.premise.premise_id: _found(a, key=LookupKey.PREMISE)
    for a in (OAK, ELM, CEDAR, PECAN, MESQUITE)
}


def _answer(world: World, intent: LineAction) -> Event:
    if isinstance(intent, RecordReport):
        if RecordReport in world.away:
            return Reported(outcome=None, address=None)
        address = _address(intent.premise_id)
        return Reported(outcome=world.report, address=address)
    if type(intent) in world.away:
        return StoreUnavailable()
    if isinstance(intent, FindCaller):
        return Found(lookup=world.directory.get(intent.entered, NOBODY))
    if isinstance(intent, FindPremise):
        return Found(lookup=PREMISES.get(intent.premise_id, NOBODY))
    assert isinstance(intent, RequestCallback)
    return CallbackTaken(phone=CALLER, address=_address(intent.premise_id))


def _address(premise_id: str | None) -> str | None:
    found = PREMISES.get(premise_id or "")
    return found.accounts[0].premise.service_address if found else None


def _token(action: LineAction) -> str | None:
    if isinstance(action, Say):
        phone = action.variables.get("phone")
        said = f"{action.key}({phone})" if phone else action.key
        return said if action.language == "en" else f"{said}@{action.language}"
    if isinstance(action, SayStatus):
        status = f"status:{action.account.premise.premise_id}"
        return status if action.language == "en" else f"{status}@{action.language}"
    if isinstance(action, Note):
        return f"#{action.step}"
    if isinstance(action, RecordReport | RecordHazard):
        kind = "report" if isinstance(action, RecordReport) else "hazard"
        return f"{kind}:{action.premise_id}"
    if isinstance(action, RequestCallback):
        return f"callback:{action.premise_id}:{action.language}"
    if isinstance(action, FindCaller):
        return f"find:{action.entered}"
    if isinstance(action, FindPremise):
        return f"premise:{action.premise_id}"
    if isinstance(action, Dial):
        return f"dial:{action.number}"
    if isinstance(action, Hangup):
        return "hangup"
    return None  # gathers and redirects: where the call goes, followed below


def outage_line_call(
    start: Event,
    inputs: Sequence[Event],
    *,
    world: World | None = None,
    config: LineConfig = CONFIG,
) -> list[str]:
    """The whole call, as the carrier and the service would run it."""
    line = OutageLine(config)
    world = world or World()
    state, event = LineState(), start
    heard: list[str] = []
    pending = list(inputs)
    webhook: list[LineAction] = []
    for _ in range(100):
        step = line.step(state, event, now=T0)
        state = step.state
        answer = None
        for action in step.actions:
            prompts = action.prompts if isinstance(action, Gather) else (action,)
            heard += [token for prompt in prompts if (token := _token(prompt))]
            if isinstance(action, ANSWERED_INTENTS):
                answer = _answer(world, action)
                break
            webhook.append(action)
        if answer is not None:
            if isinstance(answer, StoreUnavailable):
                heard.append("!store unavailable")
                webhook.clear()
            event = answer
            continue
        if any(isinstance(action, Hangup | Dial) for action in webhook) or not pending:
            return heard
        event = pending.pop(0)
        # Keys or speech go to the first prompt's step; nothing at all, to the redirect's.
        follow = Redirect if isinstance(event, Silence) else Gather
        state = next(a.then for a in webhook if isinstance(a, follow))
        webhook = []
    raise AssertionError("the call never ended")


def _started(*accounts: AccountStatus) -> CallStarted:
    return CallStarted(lookup=_found(*accounts))


SILENT_TO_THE_END = [Silence(), Silence(), Silence()]
MENU = ["menu"]

# (name, start, inputs, world, config changes, transcript)
OUTAGE_LINE_CALLS: list[tuple[str, Event, list[Event], World, dict[str, Any], list[str]]] = [
    (
        "known caller with an outage hears status, menu three times, goodbye",
        _started(OAK),
        SILENT_TO_THE_END,
        World(),
        {},
        ["#status", "status:P1", *MENU, *MENU, *MENU, "#goodbye", "goodbye", "hangup"],
    ),
    (
        "Spanish customer (es-MX) hears Spanish and reports",
        _started(ELM),
        [Heard(keys="1")],
        World(),
        {},
        ["#status", "status:P2@es", "menu@es", "#menu:1", "#report", "report:P2",
         "report_recorded@es", "menu@es"],
    ),
    (
        "no outage known: the caller reports one",
        _started(CEDAR),
        [Heard(keys="1")],
        World(),
        {},
        ["#status", "status:P3", *MENU, "#menu:1", "#report", "report:P3", "report_recorded",
         *MENU],
    ),
    (
        "a report already made for this outage and premise",
        _started(OAK),
        [Heard(keys="1")],
        World(report=ReportOutcome.ALREADY),
        {},
        ["#status", "status:P1", *MENU, "#menu:1", "#report", "report:P1", "report_already",
         *MENU],
    ),
    (
        "a phone covering two homes: status of the one out, the choice, the other's status",
        _started(MESQUITE, PECAN),
        [Heard(keys="2"), Heard(keys="1")],
        World(),
        {},
        ["#status", "status:P6", "pick_premise", "premise_option", "premise_option", *MENU,
         "premise:P5", "#pick", "status:P5", *MENU, "#menu:1", "#report", "report:P5",
         "report_recorded", *MENU],
    ),
    (
        "a choice that is not offered",
        _started(MESQUITE, PECAN),
        [Heard(keys="7")],
        World(),
        {},
        ["#status", "status:P6", "pick_premise", "premise_option", "premise_option", *MENU,
         "invalid_choice", *MENU],
    ),
    (
        "unknown caller found by phone number",
        CallStarted(lookup=NOBODY),
        [Heard(keys="5125550100")],
        World(directory={"5125550100": _found(OAK)}),
        {},
        ["#identify", "ask_phone_or_account", "find:5125550100", "#status", "status:P1", *MENU],
    ),
    (
        "withheld caller ID found by account number",
        CallStarted(lookup=None),
        [Heard(keys="1003")],
        World(directory={"1003": _found(CEDAR, key=LookupKey.ACCOUNT)}),
        {},
        ["#identify", "ask_phone_or_account", "find:1003", "#status", "status:P3", *MENU],
    ),
    (
        "three failed tries lead to the menu, not a hang-up",
        CallStarted(lookup=NOBODY),
        [Heard(keys="555"), Unclear(), Silence()],
        World(),
        {},
        ["#identify", "ask_phone_or_account", "find:555", "#identify_miss", "not_found_retry",
         "ask_phone_or_account", "#identify_miss", "speech_unclear", "ask_phone_or_account",
         "#identify_failed", "menu"],
    ),
    (
        "hazard with an emergency line: advice, then the transfer",
        _started(CEDAR),
        [Heard(keys="2")],
        World(),
        {},
        ["#status", "status:P3", *MENU, "#menu:2", "hazard:P3", "hazard", "#hazard_transfer",
         "hazard_transfer", f"dial:{EMERGENCY}"],
    ),
    (
        "hazard without an emergency line: the public number, never 'connecting', the menu",
        _started(CEDAR),
        [Heard(keys="2")],
        World(),
        {"emergency_number": None, "public_emergency_number": "112"},
        ["#status", "status:P3", *MENU, "#menu:2", "hazard:P3", "hazard",
         "hazard_call_emergency(112)", "#hazard", *MENU],
    ),
    (
        "agent asked for on a line without one: said so, and the menu offers no 0",
        _started(CEDAR),
        [Heard(keys="0")],
        World(),
        {"agent_number": None},
        ["#status", "status:P3", "menu_no_agent", "#menu:0", "#agent_closed", "agent_closed",
         "menu_no_agent"],
    ),
    (
        "agent line outside its hours",
        _started(CEDAR),
        [Heard(keys="0")],
        World(),
        {"agent_hours": parse_daily_window("13:00-17:00")},
        ["#status", "status:P3", "menu", "#menu:0", "#agent_after_hours", "agent_after_hours",
         "menu"],
    ),
    (
        "agent line open: transferred",
        _started(CEDAR),
        [Heard(keys="0")],
        World(),
        {},
        ["#status", "status:P3", "menu", "#menu:0", "#agent", "agent_transfer", f"dial:{AGENT}"],
    ),
    (
        "call-back request in Spanish",
        _started(ELM),
        [Heard(keys="3")],
        World(),
        {},
        ["#status", "status:P2@es", "menu@es", "#menu:3", "callback:P2:es", "#callback",
         f"callback_recorded({CALLER})@es", "menu@es"],
    ),
    (
        "database away at the start: high volume, then a report that is spooled",
        StoreUnavailable(),
        [Heard(keys="1")],
        World(away=(RecordReport,)),
        {},
        ["#degraded", "high_volume", *MENU, "#menu:1", "#report", "report:None",
         "report_recorded_no_address", *MENU],
    ),
    (
        "database away mid-call: the call-back fails, the caller still reports for their home",
        _started(ELM),
        [Heard(keys="3"), Heard(keys="1")],
        World(away=(RequestCallback,)),
        {},
        ["#status", "status:P2@es", "menu@es", "#menu:3", "callback:P2:es",
         "!store unavailable", "#degraded", "high_volume", *MENU, "#menu:1", "#report",
         "report:P2", "report_recorded", *MENU],
    ),
    (
        "database away while looking up an entered number",
        CallStarted(lookup=NOBODY),
        [Heard(keys="1001")],
        World(away=(FindCaller,)),
        {},
        ["#identify", "ask_phone_or_account", "find:1001", "!store unavailable", "#degraded",
         "high_volume", *MENU],
    ),
    (
        "junk keys are refused and the menu follows",
        _started(OAK),
        [Heard(keys="*"), Heard(keys="5")],
        World(),
        {},
        ["#status", "status:P1", *MENU, "#menu:?", "invalid_choice", *MENU, "#menu:5",
         "invalid_choice", *MENU],
    ),
    (
        "unclear speech is asked again, not acted on",
        _started(OAK),
        [Unclear()],
        World(),
        {},
        ["#status", "status:P1", *MENU, "#unclear", "speech_unclear", *MENU],
    ),
    (
        "switching to Spanish and repeating",
        _started(CEDAR),
        [Heard(keys="8"), Heard(keys="9"), Heard(keys="7")],
        World(),
        {},
        ["#status", "status:P3", *MENU, "#menu:8", "menu@es", "#menu:9", "menu@es", "#menu:7",
         *MENU],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("start", "inputs", "world", "changes", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in OUTAGE_LINE_CALLS],
)
def test_outage_line_transcripts(
    start: Event,
    inputs: list[Event],
    world: World,
    changes: dict[str, Any],
    expected: list[str],
) -> None:
    config = dataclasses.replace(CONFIG, **changes)
    assert outage_line_call(start, inputs, world=world, config=config) == expected


def test_outcomes_noted_for_containment() -> None:
    """A transfer and a report count as such in the call's record."""
    line = OutageLine(CONFIG)
    menu = LineState(stage=Stage.MENU, premise_id="P3", account_number="1003")
    outcomes = {
        keys: [
            action.outcome
            for action in line.step(menu, Heard(keys=keys), now=T0).actions
            if isinstance(action, Note)
        ]
        for keys in ("0", "1", "2")
    }
    assert outcomes["0"][-1] is CallOutcome.TRANSFERRED
    assert outcomes["1"][-1] is CallOutcome.REPORTED
    assert outcomes["2"][-1] is CallOutcome.TRANSFERRED


def test_the_menu_remembers_who_is_calling() -> None:
    """The report made after the status is for the premise and account just heard."""
    step = OutageLine(CONFIG).step(LineState(), _started(OAK), now=T0)
    menu = next(a.then for a in step.actions if isinstance(a, Gather))
    assert (menu.stage, menu.premise_id, menu.account_number) == (Stage.MENU, "P1", "1001")
    report = OutageLine(CONFIG).step(menu, Heard(keys="1"), now=T0).actions[-1]
    assert report == RecordReport(premise_id="P1", account_number="1001")


# --- the state in the URL -------------------------------------------------------------

_ids = st.text(alphabet=st.characters(categories=("L", "N", "P")), min_size=1, max_size=64)
STATES = st.one_of(
    st.builds(
        LineState,
        stage=st.just(Stage.MENU),
        language=st.sampled_from(["en", "es"]),
        premise_id=st.none() | _ids.map(str.strip).filter(bool),
        account_number=st.none() | _ids.map(str.strip).filter(bool),
        repeat=st.integers(0, 99),
    ),
    st.builds(
        LineState,
        stage=st.just(Stage.IDENTIFY),
        language=st.sampled_from(["en", "es"]),
        attempt=st.integers(1, 99),
    ),
    st.builds(
        LineState,
        stage=st.just(Stage.PICK),
        language=st.sampled_from(["en", "es"]),
        choices=st.lists(_ids.map(str.strip).filter(bool), max_size=5).map(tuple),
    ),
)


@given(STATES)
def test_state_survives_the_url(state: LineState) -> None:
    line = OutageLine(CONFIG)
    assert from_query(state.stage, to_query(state), line=line) == state


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["lang", "premise", "account", "try", "repeat", "choice", "x"]),
            st.text(max_size=80),
        ),
        max_size=12,
    ),
    st.sampled_from(list(Stage)),
)
def test_any_query_reads_as_a_valid_state(query: list[tuple[str, str]], stage: Stage) -> None:
    """An edited, truncated or junk URL never raises: it reads as a state the flow can
    answer (which re-prompts), so the caller never meets a server error."""
    line = OutageLine(CONFIG)
    state = from_query(stage, query, line=line)
    assert state.language in CONFIG.languages
    assert 1 <= state.attempt <= 99 and 0 <= state.repeat <= 99
    assert len(state.choices) <= 5
    for value in (state.premise_id, state.account_number, *state.choices):
        assert value is None or (0 < len(value) <= 64 and value.isprintable())
    for event in (Heard(keys="1"), Heard(keys="9"), Silence(), Unclear()):
        assert line.step(state, event, now=T0).actions


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("lang", "xx"), ("repeat", "banana")], LineState(stage=Stage.MENU)),
        ([("lang", "es-MX"), ("premise", " P1 "), ("account", "1\x001")],
         LineState(stage=Stage.MENU, language="es", premise_id="P1")),
        ([("repeat", "-3"), ("premise", "P" * 65)], LineState(stage=Stage.MENU)),
        ([("repeat", "9" * 5000)], LineState(stage=Stage.MENU)),
        ([("try", "zz")], LineState(stage=Stage.MENU)),
    ],
)  # fmt: skip
def test_junk_in_the_url_reads_as_defaults(
    query: list[tuple[str, str]], expected: LineState
) -> None:
    assert from_query(Stage.MENU, query, line=OutageLine(CONFIG)) == expected


def test_a_state_edited_in_the_url_fails_the_carriers_signature() -> None:
    """The state is not secret but it is signed: a caller's premise swapped in the URL is
    refused before any flow runs."""
    token = "auth-token"
    state = LineState(stage=Stage.MENU, premise_id="P1", account_number="1001")
    signed = "https://line.example/twilio/menu?lang=en&premise=P1&account=1001"
    assert signed.endswith("&".join(f"{k}={v}" for k, v in to_query(state)))
    params = [("Digits", "1")]
    signature = compute_signature(token, signed, params)
    for url, verdict in (
        (signed, Verdict.SIGNED),
        (signed.replace("P1", "P2"), Verdict.WRONG),
        (signed + "&repeat=1", Verdict.WRONG),
    ):
        assert (
            check_webhook(
                auth_token=token,
                shared_key=None,
                url=url,
                params=params,
                signature=signature,
                signature_settings="",
            )
            is verdict
        )


# --- the answered-call menu of campaigns ----------------------------------------------

MESSAGE = (Segment(text="Power is back at 12 Oak Street.", language="en", key=None),)


def _campaign_call(
    kind: CampaignKind = CampaignKind.RESTORATION, voicemail: str = "message"
) -> CampaignCall:
    return CampaignCall(kind=kind, message=MESSAGE, voicemail=voicemail, language="en")


def _call_token(action: object) -> str | None:
    if isinstance(action, Say):
        phone = action.variables.get("phone")
        return f"{action.key}({phone})" if phone else action.key
    if isinstance(action, SayMessage):
        return "message"
    names = {Delivered: "#delivered", StillOut: "#still_out", OptOut: "#opt_out", Hangup: "hangup"}
    return names.get(type(action))


def campaign_call(
    first: CallEvent,
    keys: Sequence[str | None],
    *,
    callback_number: str | None = "+15125550000",
) -> list[str]:
    flow = CampaignCallFlow(CampaignCallConfig(callback_number=callback_number))
    call = first.call
    state, event = CallMenuState(attempt_id=7), first
    heard: list[str] = []
    pending = list(keys)
    for _ in range(50):
        actions = flow.step(state, event).actions
        for action in actions:
            prompts = action.prompts if isinstance(action, Gather) else (action,)
            heard += [token for prompt in prompts if (token := _call_token(prompt))]
        if any(isinstance(action, Hangup) for action in actions) or not pending:
            return heard
        key = pending.pop(0)
        follow = Gather if key else Redirect
        state = next(a.then for a in actions if isinstance(a, follow))
        event = Pressed(call=call, key=key) if key else NoKey(call=call)
    raise AssertionError("the call never ended")


PERSON = Answered(call=_campaign_call(), by=AnsweredBy.PERSON)
CAMPAIGN_CALLS: list[tuple[str, CallEvent, list[str | None], dict[str, Any], list[str]]] = [
    ("still out", PERSON, ["1"], {},
     ["#delivered", "message", "outbound_menu", "#still_out", "still_out_recorded", "goodbye",
      "hangup"]),
    ("repeat, then stop these calls", PERSON, ["2", "9"], {},
     ["#delivered", "message", "outbound_menu", "message", "outbound_menu", "#opt_out",
      "opted_out", "hangup"]),
    ("still out is a restoration call's option only",
     Answered(call=_campaign_call(CampaignKind.ETR_UPDATE), by=AnsweredBy.PERSON), ["1"], {},
     ["#delivered", "message", "outbound_menu", "invalid_choice", "message", "outbound_menu"]),
    ("silence: the message three more times, then goodbye", PERSON, [None, None, None], {},
     ["#delivered", *["message", "outbound_menu"] * 3, "goodbye", "hangup"]),
    ("voicemail after the beep, with the number to call back",
     Answered(call=_campaign_call(), by=AnsweredBy.MACHINE), [], {},
     ["#delivered", "message", "voicemail_callback(+15125550000)", "hangup"]),
    ("voicemail without a number to call back",
     Answered(call=_campaign_call(), by=AnsweredBy.MACHINE), [], {"callback_number": None},
     ["#delivered", "message", "hangup"]),
    ("a campaign that leaves no voicemail",
     Answered(call=_campaign_call(voicemail="hangup"), by=AnsweredBy.MACHINE), [], {},
     ["hangup"]),
    ("a fax", Answered(call=_campaign_call(), by=AnsweredBy.FAX), [], {}, ["hangup"]),
    ("an attempt we don't know", Answered(call=None, by=AnsweredBy.PERSON), [], {},
     ["goodbye", "hangup"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("first", "keys", "changes", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in CAMPAIGN_CALLS],
)
def test_campaign_call_transcripts(
    first: CallEvent, keys: list[str | None], changes: dict[str, Any], expected: list[str]
) -> None:
    assert campaign_call(first, keys, **changes) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("human", AnsweredBy.PERSON), ("", AnsweredBy.PERSON), ("unknown", AnsweredBy.PERSON),
     ("machine_end_beep", AnsweredBy.MACHINE), ("machine_start", AnsweredBy.MACHINE),
     ("fax", AnsweredBy.FAX)],
)  # fmt: skip
def test_answered_by(raw: str, expected: AnsweredBy) -> None:
    assert answered_by(raw) is expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("attempt", "42")], CallMenuState(attempt_id=42)),
        ([("attempt", "42"), ("repeat", "2")], CallMenuState(attempt_id=42, repeat=2)),
        ([("attempt", "²")], CallMenuState(attempt_id=None)),
        ([("attempt", "-1"), ("repeat", "banana")], CallMenuState(attempt_id=None)),
        ([("attempt", "9" * 19)], CallMenuState(attempt_id=None)),
        ([], CallMenuState(attempt_id=None)),
    ],
)
def test_campaign_call_state_in_the_url(
    query: list[tuple[str, str]], expected: CallMenuState
) -> None:
    state = call_from_query(query)
    assert state == expected
    if state.attempt_id is not None:
        assert call_from_query(call_to_query(state)) == state
