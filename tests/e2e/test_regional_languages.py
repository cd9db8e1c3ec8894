"""A customer whose language tag names a region (es-MX) hears the catalog of its base
language (es) when called by a campaign, as on the outage line."""

from __future__ import annotations

import io

from outage_voice.bootstrap import Services
from tests.e2e.test_campaigns import RESTORATION, Rig, carrier_settings, rig
from tests.support import csv_text

__all__ = ["carrier_settings", "rig"]  # fixtures, used by name

TOMAS = "2003,Tomas Ruiz,512-555-0122,,P22,8 Birch Road,F1,,es-MX"
KATE = "2004,Kate Brown,512-555-0123,,P23,2 Ash Street,F2,,EN_us"


async def test_a_campaign_calls_es_mx_in_spanish(rig: Rig, services: Services) -> None:
    report = await services.customers.import_stream(io.StringIO(csv_text(TOMAS, KATE)))
    assert (report.rejections, report.unspoken) == ([], 0)
    created = await rig.api("POST", "/api/v1/campaigns", RESTORATION, status=201)
    await rig.api("POST", f"/api/v1/campaigns/{created['id']}/start")
    await rig.finished(created["id"])
    (tomas,) = rig.calls_to("+15125550122")
    assert tomas.spoken_text().startswith("Se restableció la luz en 8 Birch Road.")
    (kate,) = rig.calls_to("+15125550123")
    assert kate.spoken_text().startswith("Power has been restored at 2 Ash Street.")
