from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outage_voice.domain.errors import InvalidField
from outage_voice.domain.outages import CrewStatus, OutageStatus, parse_outage_state

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"status": "confirmed", "premise_ids": ["P1"]}
    base.update(overrides)
    return base


def test_minimal_state() -> None:
    state = parse_outage_state(body(), now=NOW)
    assert state.status is OutageStatus.CONFIRMED
    assert state.crew_status is CrewStatus.NONE
    assert state.premise_ids == ("P1",)


def test_same_state_written_differently_is_equal() -> None:
    one = parse_outage_state(
        body(premise_ids=["P2", "P1", "P1"], etr="2026-11-23T16:30:00-06:00"), now=NOW
    )
    two = parse_outage_state(body(premise_ids=["P1", "P2"], etr="2026-11-23T22:30:00Z"), now=NOW)
    assert one.canonical() == two.canonical()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ("text", "body"),
        ({"premise_ids": ["P1"]}, "status"),
        (body(status="fixed"), "status"),
        (body(status=3), "status"),
        (body(colour="red"), "colour"),
        (body(cause=5), "cause"),
        (body(cause="x" * 201), "cause"),
        (body(etr="tomorrow"), "etr"),
        (body(etr="2026-11-23T20:00:00"), "etr"),
        (body(etr=1700000000), "etr"),
        (body(etr=(NOW - timedelta(hours=1)).isoformat()), "etr"),
        (body(planned="yes"), "planned"),
        (body(planned=True), "starts_at"),
        (body(planned=True, starts_at="2026-11-25T08:00:00Z"), "ends_at"),
        (
            body(planned=True, starts_at="2026-11-25T08:00:00Z", ends_at="2026-11-25T07:00:00Z"),
            "ends_at",
        ),
        ({"status": "confirmed"}, "premise_ids"),
        (body(premise_ids="P1"), "premise_ids"),
        (body(premise_ids=["P1", ""]), "premise_ids[1]"),
        (body(premise_ids=["P1", 7]), "premise_ids[1]"),
        (body(feeder_ids=[None]), "feeder_ids[0]"),
    ],
)
def test_bad_states_name_their_field(payload: object, field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_outage_state(payload, now=NOW)
    assert caught.value.field == field


def test_a_past_etr_is_fine_once_restored() -> None:
    past = (NOW - timedelta(hours=1)).isoformat()
    state = parse_outage_state(body(status="restored", etr=past), now=NOW)
    assert state.etr is not None


def test_a_slightly_late_oms_clock_is_tolerated() -> None:
    parse_outage_state(body(etr=(NOW - timedelta(seconds=30)).isoformat()), now=NOW)


def test_crew_status_follows_status() -> None:
    assert (
        parse_outage_state(body(status="crew_on_site"), now=NOW).crew_status is CrewStatus.ON_SITE
    )
    assert (
        parse_outage_state(body(status="crew_dispatched"), now=NOW).crew_status
        is CrewStatus.DISPATCHED
    )
