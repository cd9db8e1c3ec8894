"""What a planned-work call says when answered: the message the schedule chose, the work as
the schedule saw it (its hours, its bad-weather date, the day first told for a move), in each
customer's own language and time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from outage_voice.bootstrap import Services
from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.outages import parse_outage_state
from outage_voice.domain.prompts import spoken
from outage_voice.domain.windows import ALWAYS
from outage_voice.services.outbound import AnsweredCall
from outage_voice.web.campaign_json import parse_campaign_spec
from tests.support import T0, csv_text

CHICAGO = ZoneInfo("America/Chicago")


def _chicago(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHICAGO).astimezone(UTC)


# Thursday, December 3rd, 09:00-13:00 in Chicago; Friday if the weather is bad.
THURSDAY = (_chicago(12, 3, 9), _chicago(12, 3, 13))
FRIDAY = _chicago(12, 4, 9)
# Where it was moved to: Tuesday, December 8th, same hours.
TUESDAY = (_chicago(12, 8, 9), _chicago(12, 8, 13))

MARIA, JOSE, DENVER = "1001", "1002", "1003"  # en Chicago, es Chicago, en Denver


async def _customers(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        csv_text(
            "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,America/Chicago,en",
            "1002,Jose Lopez,512-555-0102,,P2,40 Elm Street,F1,America/Chicago,es",
            "1003,Dana Reed,512-555-0103,,P3,7 Pine Street,F1,America/Denver,en",
        )
    )
    await services.customers.import_file(path)


async def _planned_outage(services: Services) -> None:
    body = {
        "status": "confirmed",
        "feeder_ids": ["F1"],
        "planned": True,
        "starts_at": THURSDAY[0].isoformat(),
        "ends_at": THURSDAY[1].isoformat(),
    }
    await services.outages.put("PW-1", parse_outage_state(body, now=T0), actor="oms")


def _details(
    message: str,
    work: tuple[datetime, datetime] = THURSDAY,
    *,
    alternate: datetime | None = None,
    previous: tuple[datetime, datetime] | None = None,
    restored: bool = False,
) -> dict[str, str]:
    """A planned campaign's message variables, as the schedule writes them from its row."""
    return {
        "planned_message": message,
        "starts_at": work[0].isoformat(),
        "ends_at": work[1].isoformat(),
        "alternate_starts_at": alternate.isoformat() if alternate else "",
        "previous_starts_at": previous[0].isoformat() if previous else "",
        "previous_ends_at": previous[1].isoformat() if previous else "",
        "restored": "yes" if restored else "",
    }


async def _heard(
    services: Services, kind: str, key: str, variables: dict[str, Any]
) -> dict[str, AnsweredCall]:
    """A campaign of `kind` for the planned outage, made as the schedule makes it (automatic,
    the message's catalog key and variables), its calls placed and answered: what each
    account hears."""
    spec = parse_campaign_spec({"name": kind, "kind": kind, "audience": {"outage_id": "PW-1"}})
    view = await services.campaigns.create(spec, actor="t", force=True)
    campaign_id = view["id"]
    await services.pool.execute(
        "UPDATE campaigns SET automatic = true, "
        "spec = jsonb_set(jsonb_set(spec, '{message,variables}', $2::jsonb), "
        "'{message,key}', to_jsonb($3::text)) WHERE id = $1",
        campaign_id,
        variables,
        key,
    )
    await services.campaigns.act(campaign_id, "start")
    batch = await services.dialer_store.claim(
        campaign_id, now=T0, limit=10, urgent=True, window=(ALWAYS.opens, ALWAYS.closes)
    )
    heard: dict[str, AnsweredCall] = {}
    for attempt in batch.attempts:
        call = await services.outbound.answered(attempt.id)
        assert call is not None and call.account_number is not None
        heard[call.account_number] = call
    assert set(heard) == {MARIA, JOSE, DENVER}
    return heard


def _said(calls: dict[str, AnsweredCall]) -> dict[str, str]:
    return {account: spoken(call.message) for account, call in calls.items()}


async def test_the_notice_names_the_day_the_hours_the_duration_and_the_bad_weather_date(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _planned_outage(services)

    said = _said(
        await _heard(
            services,
            "planned_notice",
            "planned_advance_notice",
            _details("notice", alternate=FRIDAY),
        )
    )

    assert said[MARIA] == (
        "Planned maintenance will turn off power at 12 Oak Street on Thursday, December third, "
        "from nine A M to about one P M. It should take about four hours, and may end earlier "
        "or later than planned. We are letting you know now so you can plan for the time "
        "without power. If the weather does not allow the work that day, it will be done on "
        "Friday, December fourth, from nine A M to about one P M instead."
    )
    assert said[JOSE] == (
        "Por mantenimiento programado, cortaremos la luz en 40 Elm Street el jueves tres de "
        "diciembre, de las nueve de la mañana a aproximadamente la una de la tarde. Debería "
        "durar aproximadamente cuatro horas, y puede terminar antes o después de lo previsto. "
        "Le avisamos con tiempo para que pueda prepararse. Si el clima no permite hacer el "
        "trabajo ese día, se hará el viernes cuatro de diciembre, de las nueve de la mañana a "
        "aproximadamente la una de la tarde."
    )
    # The customer in Denver hears the same hours on their own clock, an hour earlier.
    assert said[DENVER].startswith(
        "Planned maintenance will turn off power at 7 Pine Street on Thursday, December third, "
        "from eight A M to about noon."
    )
    assert said[DENVER].endswith(
        "done on Friday, December fourth, from eight A M to about noon instead."
    )


async def test_a_short_notice_without_a_bad_weather_date_says_so_and_no_more(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _planned_outage(services)

    said = _said(
        await _heard(services, "planned_notice", "planned_short_notice", _details("short_notice"))
    )

    assert said[MARIA].endswith(
        "It should take about four hours, and may end earlier or later than planned. "
        "This is shorter notice than we usually give."
    )
    assert "weather" not in said[MARIA] and "clima" not in said[JOSE]
    assert said[JOSE].endswith("Este aviso llega con menos anticipación de la habitual.")


async def test_the_reminder_speaks_the_work_not_tomorrow(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _planned_outage(services)

    said = _said(await _heard(services, "planned_notice", "planned_reminder", _details("reminder")))

    assert said[MARIA] == (
        "A reminder: planned maintenance will turn off power at 12 Oak Street on Thursday, "
        "December third, from nine A M to about one P M. The work may end earlier or later "
        "than planned."
    )
    assert said[JOSE].startswith(
        "Le recordamos que, por mantenimiento programado, cortaremos la luz en 40 Elm Street el "
        "jueves tres de diciembre, de las nueve de la mañana"
    )
    assert "from eight A M to about noon" in said[DENVER]


async def test_a_move_names_the_day_first_told_and_the_new_hours(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _planned_outage(services)

    said = _said(
        await _heard(
            services,
            "planned_notice",
            "planned_moved",
            _details("moved", TUESDAY, previous=THURSDAY),
        )
    )

    assert said[MARIA] == (
        "The maintenance planned at 12 Oak Street for Thursday, December third has been moved "
        "to Tuesday, December eighth, from nine A M to about one P M. The work may end earlier "
        "or later than planned."
    )
    assert said[JOSE] == (
        "El mantenimiento previsto en 40 Elm Street para el jueves tres de diciembre cambió de "
        "fecha: ahora será el martes ocho de diciembre, de las nueve de la mañana a "
        "aproximadamente la una de la tarde. El trabajo puede terminar antes o después de lo "
        "previsto."
    )
    assert "moved to Tuesday, December eighth, from eight A M to about noon." in said[DENVER]


async def test_a_cancellation_names_the_day_it_was_planned_for(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _planned_outage(services)

    # Moved first, then cancelled: the day spoken is the one those told last heard.
    said = _said(
        await _heard(
            services, "planned_notice", "planned_cancelled", _details("cancelled", TUESDAY)
        )
    )

    assert said[MARIA] == (
        "The maintenance planned at 12 Oak Street for Tuesday, December eighth will not "
        "happen. Power will not be turned off for it."
    )
    assert said[JOSE] == (
        "El mantenimiento previsto en 40 Elm Street para el martes ocho de diciembre no se "
        "hará. No cortaremos la luz por ese trabajo."
    )


async def test_the_all_clear_says_power_is_back_only_when_the_oms_said_so(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _planned_outage(services)

    # At ends_at with nothing from the OMS: it should be complete; still out? press 1.
    at_end = await _heard(services, "restoration", "planned_all_clear", _details("all_clear"))
    said = _said(at_end)
    assert said[MARIA] == (
        "The planned maintenance at 12 Oak Street should now be complete. "
        "If your power is still out, press 1."
    )
    assert said[JOSE] == (
        "El mantenimiento programado en 40 Elm Street ya debería haber terminado. "
        "Si todavía no tiene luz, oprima 1."
    )
    # A restoration call: its menu takes the 1 as a still-out report.
    assert {call.kind for call in at_end.values()} == {CampaignKind.RESTORATION}

    # After the OMS said restored: power is back.
    restored = _said(
        await _heard(services, "restoration", "restored", _details("all_clear", restored=True))
    )
    assert restored[MARIA].startswith("Power has been restored at 12 Oak Street.")
    assert "should now be complete" not in restored[MARIA]
    assert restored[MARIA].endswith("If your power is still out, press 1.")
    assert restored[JOSE].endswith("Si todavía no tiene luz, oprima 1.")
    assert "ya debería haber terminado" not in restored[JOSE]


async def test_unreadable_details_still_speak_the_outages_own_hours(
    services: Services, tmp_path: Path
) -> None:
    await _customers(services, tmp_path)
    await _planned_outage(services)

    broken = _details("reminder") | {"starts_at": "next thursday"}
    said = _said(await _heard(services, "planned_notice", "planned_reminder", broken))

    assert said[MARIA].startswith(
        "A reminder: planned maintenance will turn off power at 12 Oak Street on Thursday, "
        "December third, from nine A M to about one P M."
    )
    assert "de las nueve de la mañana" in said[JOSE]
