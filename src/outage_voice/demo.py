"""`outage-voice demo`: a synthetic utility, a storm, and what its callers hear."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from outage_voice.adapters.clock import SystemClock
from outage_voice.adapters.db.admin import recreate_database
from outage_voice.adapters.db.pool import database_url
from outage_voice.bootstrap import open_services
from outage_voice.config import Settings
from outage_voice.domain.announcements import status_announcement
from outage_voice.domain.phones import mask_phone, normalize_phone
from outage_voice.domain.prompts import spoken
from outage_voice.synthetic import SyntheticUtility

DEMO_DATABASE = "outage_voice_demo"
DEMO_FEEDERS = 40
STORM_FEEDERS = ("FDR-001", "FDR-002", "FDR-003")
SAMPLE_CALLERS = (0, 41, 3, 5)


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

            # OMS estimates come in quarter hours; so do the demo's.
            now = clock.now().replace(second=0, microsecond=0)
            now -= timedelta(minutes=now.minute % 15)
            await services.outages.put(
                "STORM-1",
                {
                    "status": "crew_dispatched",
                    "cause": "storm damage",
                    "etr": (now + timedelta(hours=3, minutes=30)).isoformat(),
                    "feeder_ids": list(STORM_FEEDERS),
                },
                actor="demo",
            )
            await services.outages.put(
                "TREE-7",
                {
                    "status": "crew_on_site",
                    "cause": "a tree on the line",
                    "etr": (now + timedelta(minutes=45)).isoformat(),
                    "premise_ids": ["P0000041"],
                },
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
                catalog = services.catalogs.get(lead.premise.language, services.catalogs["en"])
                words = spoken(status_announcement(catalog, lead, now=clock.now()))
                print(f"   {mask_phone(phone)}: {words}")
                if len(lookup.premises) > 1:
                    print(
                        f"   {'':>{len(mask_phone(phone))}}  (this phone covers "
                        f"{len(lookup.premises)} premises; the caller picks one)"
                    )
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return 0
