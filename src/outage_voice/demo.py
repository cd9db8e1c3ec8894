"""`outage-voice demo`: a synthetic utility, a storm, callers on the outage line, and the
calls the OMS's outage changes make by themselves (an acknowledgement, then an all-clear)
through the virtual carrier, on embedded defaults.

The server runs for real on a loopback port; the carrier and the dialer run on a virtual
clock, so rings, gathers and retry delays take no wall time while every webhook, database
write and audio file is real."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from outage_voice.adapters.clock import SystemClock
from outage_voice.adapters.db.admin import recreate_database
from outage_voice.adapters.db.pool import database_url
from outage_voice.bootstrap import VIRTUAL_FROM_NUMBER, create_app, open_services
from outage_voice.campaign_cli import progress_bar
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import Settings
from outage_voice.domain.announcements import status_announcement
from outage_voice.domain.inbound_calls import CONTAINED, CallOutcome, CallSummary
from outage_voice.domain.languages import pick_catalog
from outage_voice.domain.outages import parse_outage_state
from outage_voice.domain.phones import mask_phone, normalize_phone
from outage_voice.domain.prompts import spoken
from outage_voice.services.campaigns import CampaignService
from outage_voice.synthetic import SyntheticUtility
from outage_voice.web.keys import AUTOMATION, CALL_RECORDS, CAMPAIGNS, OUTAGES, VIRTUAL_CARRIER

DEMO_DATABASE = "outage_voice_demo"
DEMO_FEEDERS = 40
STORM_FEEDERS = ("FDR-001", "FDR-002", "FDR-003")
SAMPLE_CALLERS = (0, 41, 3, 5)
# The demo's automation: a one-minute blink hold, so the acknowledgement goes out while the
# callers are on the line; calls at any hour, since the demo runs whenever it is started.
DEMO_RULES = {"acknowledge": {"blink_hold_s": 60}, "window": "00:00-00:00"}
# What a caller did, from the menu steps their call went through, in the order they did it.
STEP_WORDS = {
    "pick": "picked one of their homes",
    "report": "reported the outage",
    "hazard": "reported a hazard",
    "hazard_transfer": "reported a hazard and was put through to the emergency line",
    "callback": "asked for a call back",
    "agent": "asked for a representative and was put through",
    "agent_closed": "asked for a representative (this line has none to put them through to)",
    "agent_after_hours": "asked for a representative after hours",
}


def caller_did(call: CallSummary) -> str:
    did = list(dict.fromkeys(STEP_WORDS[step] for step in call.path if step in STEP_WORDS))
    if did:
        return ", then ".join(did)
    if call.outcome is CallOutcome.ABANDONED:
        return "hung up before hearing their status"
    return "heard their status and needed nothing more"


def containment_words(calls: list[CallSummary]) -> str:
    """ "2 of 4 callers served themselves, 1 asked for a representative": served means the
    line answered what they called for, with no person needed."""
    asked = [c for c in calls if any(step.startswith("agent") for step in c.path)]
    served = [c for c in calls if c.outcome in CONTAINED and c not in asked]
    left = [c for c in calls if c.outcome is CallOutcome.ABANDONED and c not in asked]
    words = f"{len(served)} of {len(calls)} callers served themselves"
    words += f", {len(asked)} asked for a representative"
    if left:
        words += f", {len(left)} hung up before hearing their status"
    return words


async def run_demo(settings: Settings, *, customers: int) -> int:
    started = time.perf_counter()
    clock = SystemClock()
    print("outage-voice demo: a synthetic utility on embedded defaults\n")
    async with database_url(settings) as server_dsn:
        demo_dsn = await recreate_database(server_dsn, DEMO_DATABASE)
        demo_settings = dataclasses.replace(settings, database_url=demo_dsn)
        async with open_services(demo_settings, clock=clock) as services:
            utility = SyntheticUtility(customers=customers, feeders=DEMO_FEEDERS)
            csv_path = settings.home / "demo-customers.csv"
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            with csv_path.open("w", encoding="utf-8", newline="") as stream:
                utility.write_csv(stream)
            report = await services.customers.import_file(csv_path)
            print(f"1. customer file imported ({csv_path}): {report.summary}")

            await services.automation.update_rules(DEMO_RULES, actor="demo")
            # OMS estimates come in quarter hours; so do the demo's.
            now = clock.now().replace(second=0, microsecond=0)
            now -= timedelta(minutes=now.minute % 15)
            await services.outages.put(
                "STORM-1",
                parse_outage_state(
                    {
                        "status": "crew_dispatched",
                        "cause": "storm damage",
                        "etr": (now + timedelta(hours=3, minutes=30)).isoformat(),
                        "feeder_ids": list(STORM_FEEDERS),
                    },
                    now=clock.now(),
                ),
                actor="demo",
            )
            await services.outages.put(
                "TREE-7",
                parse_outage_state(
                    {
                        "status": "crew_on_site",
                        "cause": "a tree on the line",
                        "etr": (now + timedelta(minutes=45)).isoformat(),
                        "premise_ids": ["P0000041"],
                    },
                    now=clock.now(),
                ),
                actor="demo",
            )
            active = await services.outages.list_outages(active=True, limit=None)
            print(
                f"2. the OMS reports {len(active)} active outages: "
                + ", ".join(f"{o.outage_id} ({o.status})" for o in active)
            )

            print("3. callers on the outage line hear, first thing:")
            unknown_caller = 4 * customers + 1
            for index in (*(i for i in SAMPLE_CALLERS if i < customers), unknown_caller):
                phone = normalize_phone(utility.phone_of(index), settings.region)
                lookup = await services.lookup.by_phone(phone)
                if not lookup.found:
                    print(
                        f"   {mask_phone(phone)}: (number not on file) the caller is asked for "
                        "the phone number or account number on the account"
                    )
                    continue
                lead = lookup.with_outage[0] if lookup.with_outage else lookup.accounts[0]
                catalog = pick_catalog(services.catalogs, lead.premise.language)
                words = spoken(status_announcement(catalog, lead, now=clock.now()))
                print(f"   {mask_phone(phone)}: {words}")
                if len(lookup.premises) > 1:
                    print(
                        f"   {'':>{len(mask_phone(phone))}}  (this phone covers "
                        f"{len(lookup.premises)} premises; the caller picks one)"
                    )
        await _line_and_campaign(demo_settings, utility, customers)
    print(f"\ndone in {time.perf_counter() - started:.1f} s of wall-clock time")
    return 0


def _demo_personas() -> PersonaBook:
    """Who picks up when the utility calls back, as a real storm's mix."""
    return PersonaBook(
        mix=(
            (0.55, Persona(digits=("",))),  # listens, needs nothing more
            (0.10, Persona(digits=("1",))),  # still out
            (0.03, Persona(digits=("9",))),  # no more calls, please
            (0.17, Persona(behaviour=Behaviour.MACHINE)),
            (0.07, Persona(behaviour=Behaviour.BUSY)),
            (0.06, Persona(behaviour=Behaviour.NO_ANSWER)),
            (0.02, Persona(behaviour=Behaviour.INVALID)),
        )
    )


LINE_CALLERS = (
    (0, Persona(digits=("1", "3"))),  # picks the first home, asks for a call back
    (41, Persona(digits=("1",))),  # reports the outage
    (5, Persona(speech=("representante",))),  # a Spanish-speaking household asks for a person
    (3, Persona(behaviour=Behaviour.SILENT)),
)


async def _line_and_campaign(settings: Settings, utility: SyntheticUtility, customers: int) -> None:
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    clock = VirtualClock(datetime.now(UTC))
    exact = {
        normalize_phone(utility.phone_of(index), settings.region): persona
        for index, persona in LINE_CALLERS
        if index < customers
    }
    personas = dataclasses.replace(_demo_personas(), exact=exact)
    app = create_app(
        dataclasses.replace(settings, public_url=public),
        clock=clock,
        timer=clock,
        run_dialer=True,
        carrier_settings=CarrierSettings(cps=None, personas=personas, seed=11),
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        carrier = app[VIRTUAL_CARRIER]
        print("4. callers dial the outage line (through the virtual carrier):")
        with clock.hold():
            calls = carrier.dial_in(
                voice_url=f"{public}/twilio/voice",
                to=VIRTUAL_FROM_NUMBER,
                callers=list(exact),
                arrivals_per_s=2,
                status_callback=f"{public}/twilio/status",
            )
        line_wall, line_start = time.perf_counter(), clock.now()
        async with asyncio.timeout(120):
            while not all(call.status.is_final for call in calls):  # noqa: ASYNC110 - no event to await
                await asyncio.sleep(0.1)
        await app[CALL_RECORDS].flush()
        recorded = {c.call_sid: c for c in await app[CALL_RECORDS].calls([c.sid for c in calls])}
        for call in calls:
            heard = call.spoken_text()
            chose = " then ".join(
                entry.get("Digits") or entry.get("SpeechResult") or ""
                for entry in call.transcript
                if entry.get("verb") == "Gather"
                and (entry.get("Digits") or entry.get("SpeechResult"))
            )
            pad = " " * len(mask_phone(call.from_))
            print(f"   {mask_phone(call.from_)} heard: {heard[:110]}...")
            print(f"   {pad} and chose: {chose}" if chose else f"   {pad} and pressed nothing")
            record = recorded.get(call.sid)
            if record is not None:
                print(f"   {pad} so the caller {caller_did(record)}")
        print(
            f"   {containment_words(list(recorded.values()))} "
            f"({_took(clock.now() - line_start, line_wall)})"
        )

        campaigns = app[CAMPAIGNS]
        ack = await _automatic(campaigns, "STORM-1", "confirmed")
        print(
            f"5. nobody started it: the automation acknowledges STORM-1, {ack['name']!r} "
            f"(the OMS confirmed the outage; a one-minute blink hold passed):"
        )
        await _follow(campaigns, ack["id"], clock)

        restored = {"status": "restored", "feeder_ids": list(STORM_FEEDERS)}
        await app[OUTAGES].put(
            "STORM-1", parse_outage_state(restored, now=clock.now()), actor="demo"
        )
        clear = await _automatic(campaigns, "STORM-1", "restored")
        print(
            "6. the OMS marks STORM-1 restored; the automation's all-clear asks everyone told "
            "of the outage to press 1 if their power is still out:"
        )
        wall = time.perf_counter()
        virtual_start = clock.now()
        view = await _follow(campaigns, clear["id"], clock)
        outcomes = view["progress"]["outcomes"]
        took = clock.now() - virtual_start
        ledger = await app[AUTOMATION].notifications("STORM-1", account=None)
        sent = {trigger: counts.sent for trigger, counts in ledger.counts.items()}
        print(
            "7. summary: "
            f"acknowledged {sent.get('confirmed', 0)} numbers, all-clear to "
            f"{sent.get('restored', 0)}: "
            f"reached {outcomes['reached'] + outcomes['still_out'] + outcomes['opted_out']}"
            f" (of whom {outcomes['still_out']} still out, {outcomes['opted_out']} opted out), "
            f"voicemail {outcomes['voicemail']}, "
            f"busy {outcomes['busy']}, no answer {outcomes['no_answer']}, "
            f"failed {outcomes['failed'] + outcomes['invalid'] + outcomes.get('lost', 0)}; "
            f"{view['progress']['attempts']} calls placed "
            f"({_took(took, wall)})"
        )
    finally:
        await runner.cleanup()


async def _automatic(
    campaigns: CampaignService, outage_id: str, event: str, timeout_s: float = 120
) -> dict[str, Any]:
    """The campaign the automation started for the outage's event, once it has."""
    async with asyncio.timeout(timeout_s):
        while True:
            for campaign in await campaigns.recent():
                trigger = campaign.get("trigger") or {}
                if trigger.get("outage_id") == outage_id and trigger.get("event") == event:
                    return campaign
            await asyncio.sleep(0.1)


async def _follow(
    campaigns: CampaignService, campaign_id: int, clock: VirtualClock
) -> dict[str, Any]:
    """Prints a campaign's progress, a line per tenth of it, until it completes."""
    wall = time.perf_counter()
    virtual_start = clock.now()
    last_step = -1
    view = await campaigns.show(campaign_id)
    async with asyncio.timeout(600):
        while view["state"] != "completed":
            await asyncio.sleep(0.25)
            view = await campaigns.show(campaign_id)
            progress = view["progress"]
            finished = progress["by_state"]["done"] + progress["by_state"]["excluded"]
            simulated_s = (clock.now() - virtual_start).total_seconds()
            line = (
                f"   {progress_bar(finished, progress['targets'])}"
                f"  live {progress['live_calls']:>3}  attempts {progress['attempts']}"
                f"  at {simulated_s / 60:.1f} simulated min"
            )
            # A line per tenth of the campaign keeps a log readable; a terminal would redraw.
            step = finished * 10 // max(1, progress["targets"])
            if step != last_step:
                print(line, flush=True)
                last_step = step
    print(f"   done ({_took(clock.now() - virtual_start, wall)})")
    return view


def _took(simulated: timedelta, wall_started: float) -> str:
    """Both clocks, named: rings, gathers and retry delays pass on the simulated one."""
    minutes = simulated.total_seconds() / 60
    return (
        f"{minutes:.1f} simulated minutes, "
        f"{time.perf_counter() - wall_started:.1f} s of wall-clock time"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
