"""The preview counts what a change would send over the premises and feeders the change
would give the outage, not those stored: a new outage, one that grows, one that shrinks."""

from __future__ import annotations

from pathlib import Path

import pytest

from outage_voice.adapters.clock import ManualClock
from outage_voice.bootstrap import Services
from outage_voice.domain.errors import Busy
from outage_voice.domain.outages import OutageState, parse_outage_state
from outage_voice.services.automation import AutomationWorker
from tests.support import T0, csv_text

CUSTOMERS = csv_text(
    "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
    "1002,Jose Lopez,512-555-0102,,P2,40 Elm Street,F1,,es",
    "1003,Ana Smith,512-555-0103,,P3,9 Cedar Lane,F1,,",
    "1004,Luis Garcia,512-555-0104,,P4,1 Pine Road,F2,,",
    "1005,Rosa Diaz,512-555-0105,,P5,77 Pecan Drive,F2,,",
)


async def test_previews_count_the_premises_and_feeders_the_change_would_give(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    await services.pool.execute(
        "UPDATE phones SET opted_out_at = $1 WHERE e164 = '+15125550103'", T0
    )
    automation = services.automation
    await automation.update_rules({"acknowledge": {"blink_hold_s": 0}}, actor="test")

    def state(status: str, *feeders: str) -> OutageState:
        return parse_outage_state({"status": status, "feeder_ids": list(feeders)}, now=T0)

    # An outage not stored yet: its feeders' customers, the opted-out one left out.
    new = await automation.preview("S1", state("confirmed", "F1"))
    (ack,) = new.messages
    assert (ack.trigger, ack.campaign, ack.calls) == ("confirmed", "new", 2)
    assert dict(ack.skipped) == {"opted_out": 1}
    assert new.change.created
    assert await services.pool.fetchval("SELECT count(*) FROM outages") == 0  # nothing kept

    await services.outages.put("S1", state("confirmed", "F1"), actor="oms")
    worker = AutomationWorker(services.automation_store, services.automatic_campaigns, clock)
    assert await worker.step(T0) == 1

    # Growing by a feeder: its two customers join the acknowledgement.
    grown = await automation.preview("S1", state("confirmed", "F1", "F2"))
    (joined,) = grown.messages
    assert (joined.campaign, joined.calls) == ("appended", 2)

    # Shrinking to the other feeder: the pending calls on F1 would be withdrawn (counted
    # against the outage as it would be, not as stored, where F1 is still on it).
    shrunk = await automation.preview("S1", state("confirmed", "F2"))
    assert dict(shrunk.withdrawn) == {"no_longer_affected": 2}
    members = await services.pool.fetch(
        "SELECT feeder_id FROM outage_feeders f JOIN outages o ON o.id = f.outage_id"
    )
    assert [row["feeder_id"] for row in members] == ["F1"]  # the stored outage is untouched
    pending = await services.pool.fetchval(
        "SELECT count(*) FROM campaign_targets WHERE state = 'pending'"
    )
    assert pending == 2


async def test_a_preview_gives_way_to_the_oms_writing_the_same_outage(
    services: Services, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    confirmed = parse_outage_state({"status": "confirmed", "feeder_ids": ["F1"]}, now=T0)
    await services.outages.put("S1", confirmed, actor="oms")
    shrunk = parse_outage_state({"status": "confirmed", "feeder_ids": ["F2"]}, now=T0)
    async with services.pool.acquire() as writer:
        # The OMS in the middle of changing the outage's feeders.
        writing = writer.transaction()
        await writing.start()
        await writer.execute(
            "DELETE FROM outage_feeders WHERE outage_id = (SELECT id FROM outages"
            " WHERE oms_id = 'S1')"
        )
        with pytest.raises(Busy):
            await services.automation.preview("S1", shrunk)
        await writing.rollback()
    # And once it is done, the preview answers.
    preview = await services.automation.preview("S1", shrunk)
    assert preview.change.feeders_removed == ("F1",)
