"""A survey sent on demand, answered through the virtual carrier by every kind of caller (all
keys, a call back, silence, a wrong key, 9, a machine, a hang-up halfway), and its results and
CSV export counting exactly what those calls answered."""

from __future__ import annotations

import csv
import io

import asyncpg

from outage_voice.bootstrap import Services
from tests.e2e.test_campaigns import Rig
from tests.e2e.test_survey_calls import (
    ALL_KEYS,
    CALL_BACK,
    GONE_HALFWAY,
    MACHINE,
    SILENT_FIRST,
    STOPS_SURVEYS,
    WRONG_KEY,
    rig,  # noqa: F401 - the fixture: the server, its dialer and the carrier's personas
)


async def test_results_and_csv_match_the_calls(
    rig: Rig,  # noqa: F811
    services: Services,
    pool: asyncpg.Pool,
) -> None:
    sent = await rig.api("POST", "/api/v1/surveys/send", {"outage_id": "STORM-7"}, status=201)
    assert (sent["targets"], sent["excluded"]) == (7, {})
    view = await rig.finished(sent["campaign_id"])
    assert view["progress"]["by_state"]["done"] == 7

    results = await rig.api("GET", "/api/v1/surveys/post_outage/results?outage_id=STORM-7")
    totals = {key: results[key] for key in ("calls", "reached", "responded", "completed")}
    assert totals == {"calls": 7, "reached": 6, "responded": 5, "completed": 3}
    assert (results["partial"], results["response_rate"]) == (2, 0.7143)
    informed, etr_accurate, callback = results["questions"]
    assert (informed["count"], informed["mean"]) == (4, 3.5)
    assert informed["distribution"] == {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}
    assert (etr_accurate["count"], etr_accurate["distribution"]) == (5, {"yes": 3, "no": 2})
    assert (callback["count"], callback["distribution"]) == (4, {"yes": 1, "no": 3})

    export = await services.surveys.export(survey_id="post_outage", outage_id="STORM-7")
    text = io.StringIO()
    csv.writer(text).writerows([export.header, *export.rows])
    rows = {row["phone"]: row for row in csv.DictReader(io.StringIO(text.getvalue()))}
    said = {
        phone: (
            row["reached"],
            row["informed"],
            row["etr_accurate"],
            row["callback"],
            row["callback_requested"],
        )
        for phone, row in rows.items()
    }
    assert said == {
        ALL_KEYS: ("yes", "4", "yes", "no", "no"),
        CALL_BACK: ("yes", "5", "no", "yes", "yes"),
        SILENT_FIRST: ("yes", "", "yes", "no", "no"),
        WRONG_KEY: ("yes", "3", "no", "no", "no"),
        STOPS_SURVEYS: ("yes", "", "", "", "no"),
        MACHINE: ("no", "", "", "", "no"),
        GONE_HALFWAY: ("yes", "2", "yes", "", "no"),
    }
    assert {row["language"] for phone, row in rows.items() if phone == CALL_BACK} == {"es"}
    # Every row is a call the carrier carried, at the time it was placed.
    placed = {
        row["phone"]: row["placed_at"]
        for row in await pool.fetch("SELECT phone, placed_at FROM call_attempts")
    }
    assert {phone: row["called_at"] for phone, row in rows.items()} == {
        phone: at.isoformat() for phone, at in placed.items()
    }
