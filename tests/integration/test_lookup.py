from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from outage_voice.bootstrap import Services
from outage_voice.domain.outages import CrewStatus, parse_outage_state
from outage_voice.domain.phones import InvalidPhone
from tests.support import T0, csv_text

CUSTOMERS = csv_text(
    # One household phone covers two accounts at two premises.
    "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
    "1002,Maria Garcia,512-555-0100,512-555-0190,P2,40 Elm Street,F2,,es",
    "1003,James Smith,512-555-0103,,P3,14 Oak Street,F1,,",
    "1004,Ana Lopez,512-555-0104,,P4,9 Cedar Lane,,,",
)


@pytest.fixture
async def utility(services: Services, tmp_path: Path) -> Services:
    path = tmp_path / "c.csv"
    path.write_text(CUSTOMERS)
    report = await services.customers.import_file(path)
    assert report.rejections == []
    return services


async def test_lookup_by_each_key(utility: Services) -> None:
    await utility.outages.put(
        "O1",
        parse_outage_state(
            {
                "status": "crew_on_site",
                "cause": "a tree",
                "etr": (T0 + timedelta(hours=2)).isoformat(),
                "premise_ids": ["P3"],
            },
            now=T0,
        ),
        actor="t",
    )
    by_phone = await utility.lookup.by_phone("512.555.0103")
    by_account = await utility.lookup.by_account("1003")
    by_premise = await utility.lookup.by_premise("P3")
    for lookup in (by_phone, by_account, by_premise):
        assert [a.account_number for a in lookup.accounts] == ["1003"]
        outage = lookup.accounts[0].outage
        assert outage is not None
        assert outage.outage_id == "O1"
        assert outage.crew_status is CrewStatus.ON_SITE
        assert outage.etr == T0 + timedelta(hours=2)
        assert outage.cause == "a tree"


async def test_shared_phone_lists_both_accounts_outage_first(utility: Services) -> None:
    lookup = await utility.lookup.by_phone("+15125550100")
    assert [a.account_number for a in lookup.accounts] == ["1001", "1002"]
    assert not lookup.with_outage
    await utility.outages.put(
        "O2", parse_outage_state({"status": "confirmed", "feeder_ids": ["F2"]}, now=T0), actor="t"
    )
    lookup = await utility.lookup.by_phone("+15125550100")
    assert [a.account_number for a in lookup.accounts] == ["1002", "1001"]
    assert [p.premise_id for p in lookup.premises] == ["P2", "P1"]
    assert lookup.accounts[0].premise.language == "es"
    # The alternate number finds the account too.
    assert [a.account_number for a in (await utility.lookup.by_phone("512-555-0190")).accounts] == [
        "1002"
    ]


async def test_unplanned_outranks_planned_and_closed_outages_vanish(utility: Services) -> None:
    await utility.outages.put(
        "PLAN",
        parse_outage_state(
            {
                "status": "confirmed",
                "planned": True,
                "starts_at": "2026-11-23T19:00:00Z",
                "ends_at": "2026-11-23T21:00:00Z",
                "premise_ids": ["P1"],
            },
            now=T0,
        ),
        actor="t",
    )
    await utility.outages.put(
        "STORM", parse_outage_state({"status": "reported", "feeder_ids": ["F1"]}, now=T0), actor="t"
    )
    await utility.outages.put(
        "PLAN",
        parse_outage_state(
            {
                "status": "confirmed",
                "planned": True,
                "starts_at": "2026-11-23T19:00:00Z",
                "ends_at": "2026-11-23T22:00:00Z",
                "premise_ids": ["P1"],
            },
            now=T0,
        ),
        actor="t",
    )
    first = (await utility.lookup.by_account("1001")).accounts[0].outage
    assert first is not None and first.outage_id == "STORM"
    await utility.outages.put(
        "STORM", parse_outage_state({"status": "restored", "feeder_ids": ["F1"]}, now=T0), actor="t"
    )
    second = (await utility.lookup.by_account("1001")).accounts[0].outage
    assert second is not None and second.outage_id == "PLAN" and second.planned
    await utility.outages.put(
        "PLAN",
        parse_outage_state({"status": "cancelled", "premise_ids": ["P1"]}, now=T0),
        actor="t",
    )
    assert (await utility.lookup.by_account("1001")).accounts[0].outage is None


async def test_outage_named_before_its_customers_were_imported(
    services: Services, tmp_path: Path
) -> None:
    await services.outages.put(
        "EARLY",
        parse_outage_state({"status": "confirmed", "premise_ids": ["P4"]}, now=T0),
        actor="t",
    )
    path = tmp_path / "c.csv"
    path.write_text(CUSTOMERS)
    await services.customers.import_file(path)
    outage = (await services.lookup.by_premise("P4")).accounts[0].outage
    assert outage is not None and outage.outage_id == "EARLY"


async def test_unknown_and_unusable_keys(utility: Services) -> None:
    assert not (await utility.lookup.by_phone("512-555-0999")).found
    assert not (await utility.lookup.by_account("nope")).found
    assert not (await utility.lookup.by_premise("")).found
    for withheld in ("anonymous", "", "+266696687"):
        with pytest.raises(InvalidPhone):
            await utility.lookup.by_phone(withheld)


async def test_affected_premises_counts_feeders_and_premises(utility: Services) -> None:
    await utility.outages.put(
        "MIX",
        parse_outage_state(
            {"status": "confirmed", "feeder_ids": ["F1"], "premise_ids": ["P4", "P1"]}, now=T0
        ),
        actor="t",
    )
    record = await utility.outages.get("MIX")
    assert record.affected_premises == 3  # P1 and P3 on F1, P4 named; P1 counted once
    assert record.premise_ids == ("P1", "P4")
    assert record.history_entries == 1
