"""What an acknowledgement and an ETR update say when answered, composed from the outage as
it is then, and what a delivered message records of the ETR it spoke."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from outage_voice.bootstrap import Services
from outage_voice.domain.outages import parse_outage_state
from outage_voice.domain.prompts import spoken
from outage_voice.domain.windows import ALWAYS
from outage_voice.services.outbound import AnsweredCall
from outage_voice.web.campaign_json import parse_campaign_spec
from tests.support import T0, csv_text

ETR = T0 + timedelta(hours=3)  # 15:00 in Chicago, the customers' zone


async def _customers(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        csv_text(
            "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,America/Chicago,en",
            "1002,Jose Lopez,512-555-0102,,P2,40 Elm Street,F1,America/Chicago,es",
        )
    )
    await services.customers.import_file(path)


async def _outage(services: Services, **state: Any) -> None:
    body = {"status": "confirmed", "feeder_ids": ["F1"]} | state
    await services.outages.put("S1", parse_outage_state(body, now=T0), actor="oms")


async def _answered(
    services: Services, kind: str, *, variables: dict[str, str] | None = None, automatic: bool
) -> dict[str, AnsweredCall]:
    """A campaign of `kind` for outage S1, started, its calls placed and answered: what each
    number (by language) hears."""
    spec = parse_campaign_spec({"name": kind, "kind": kind, "audience": {"outage_id": "S1"}})
    view = await services.campaigns.create(spec, actor="t", force=True)
    campaign_id = view["id"]
    # As the automation makes them: a flag and the message variables its rules set.
    await services.pool.execute(
        "UPDATE campaigns SET automatic = $2, "
        "spec = jsonb_set(spec, '{message,variables}', $3::jsonb) WHERE id = $1",
        campaign_id,
        automatic,
        variables or {},
    )
    await services.campaigns.act(campaign_id, "start")
    batch = await services.dialer_store.claim(
        campaign_id, now=T0, limit=10, urgent=True, window=(ALWAYS.opens, ALWAYS.closes)
    )
    heard: dict[str, AnsweredCall] = {}
    for attempt in batch.attempts:
        call = await services.outbound.answered(attempt.id)
        assert call is not None
        heard[call.catalog.language] = call
    assert set(heard) == {"en", "es"}
    return heard


async def _heard(services: Services, target_id: int) -> tuple[datetime | None, datetime | None]:
    row = await services.pool.fetchrow(
        "SELECT heard_at, heard_etr FROM campaign_targets WHERE id = $1", target_id
    )
    assert row is not None
    return row["heard_at"], row["heard_etr"]


async def test_an_acknowledgement_says_the_cause_the_crew_and_the_etr(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _outage(services, status="crew_dispatched", cause="tree", etr=ETR.isoformat())

    calls = await _answered(services, "outage_ack", automatic=True)

    en, es = spoken(calls["en"].message), spoken(calls["es"].message)
    assert en == (
        "We know about the power outage at 12 Oak Street and are working on it. "
        "It was caused by a tree on the power line. A crew is on the way. "
        "We expect power back by three P M today. That time is an estimate and may change."
    )
    assert es.startswith("Sabemos que no hay luz en 40 Elm Street y ya estamos trabajando")
    assert "La causa es un árbol sobre la línea. Una cuadrilla va en camino." in es
    assert "Esperamos restablecer el servicio hoy a las tres de la tarde." in es
    assert calls["en"].etr == ETR and calls["es"].etr == ETR

    # Heard: when, and the ETR it spoke, for the ETR rules to read back.
    assert await _heard(services, calls["en"].target_id) == (None, None)
    await services.outbound.delivered(calls["en"])
    assert await _heard(services, calls["en"].target_id) == (T0, ETR)
    assert await _heard(services, calls["es"].target_id) == (None, None)


async def test_an_acknowledgement_without_an_etr_promises_a_call_only_when_one_will_follow(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _outage(services)

    follow_up = await _answered(
        services, "outage_ack", variables={"etr_follow_up": "yes"}, automatic=True
    )
    assert spoken(follow_up["en"].message) == (
        "We know about the power outage at 12 Oak Street and are working on it. "
        "We are assigning a crew. "
        "We will call you when we have an estimate of when power will be back."
    )
    assert spoken(follow_up["es"].message).endswith(
        "Estamos asignando una cuadrilla. "
        "Le llamaremos cuando tengamos una hora estimada para el regreso de la luz."
    )
    assert follow_up["en"].etr is None

    # No ETR updates to follow (or a person's campaign): no promise, only the fact.
    plain = await _answered(services, "outage_ack", automatic=False)
    assert spoken(plain["en"].message).endswith(
        "We are assigning a crew. We don't have an estimate yet of when power will be back."
    )
    assert "will call" not in spoken(plain["en"].message)
    assert "llamaremos" not in spoken(plain["es"].message)

    # What it said of the ETR (there is none) is recorded as such.
    await services.outbound.delivered(follow_up["es"])
    assert await _heard(services, follow_up["es"].target_id) == (T0, None)


async def test_an_etr_update_with_no_etr_says_the_estimate_was_withdrawn(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _outage(services)

    cleared = await _answered(services, "etr_update", automatic=True)
    assert spoken(cleared["en"].message) == (
        "Update for 12 Oak Street: we no longer have a reliable estimate of when power will "
        "be back. We will call you when we do."
    )
    assert spoken(cleared["es"].message).startswith(
        "Aviso para 40 Elm Street: ya no tenemos una hora estimada confiable"
    )
    assert cleared["en"].etr is None
    await services.outbound.delivered(cleared["en"])
    assert await _heard(services, cleared["en"].target_id) == (T0, None)

    # A person's ETR update for an outage without one promises nothing (as it always has).
    manual = await _answered(services, "etr_update", automatic=False)
    assert spoken(manual["en"].message).startswith("We don't have an estimate yet")

    # With an ETR: the update speaks it, and records it when heard.
    await _outage(services, etr=ETR.isoformat())
    update = await _answered(services, "etr_update", automatic=True)
    assert "we now expect power back by three P M today" in spoken(update["en"].message)
    assert update["en"].etr == ETR
    await services.outbound.delivered(update["en"])
    assert await _heard(services, update["en"].target_id) == (T0, ETR)


async def test_messages_that_say_nothing_of_the_etr_record_no_hearing(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _outage(services, status="restored")
    calls = await _answered(services, "restoration", automatic=True)
    await services.outbound.delivered(calls["en"])
    assert await _heard(services, calls["en"].target_id) == (None, None)
