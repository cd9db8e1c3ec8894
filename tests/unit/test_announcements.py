from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.domain.announcements import status_announcement
from outage_voice.domain.outages import CrewStatus, OutageStatus
from outage_voice.domain.prompts import spoken
from outage_voice.domain.status import AccountStatus, ActiveOutage, Premise

CATALOGS = load_catalogs()
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
PREMISE = Premise(
    premise_id="P1",
    service_address="12 Oak Street",
    feeder_id="F1",
    timezone="America/Chicago",
    language="en",
)


BASE = ActiveOutage(
    outage_id="O1",
    status=OutageStatus.CREW_ON_SITE,
    cause=None,
    crew_status=CrewStatus.ON_SITE,
    etr=NOW + timedelta(hours=4, minutes=30),
    planned=False,
    starts_at=None,
    ends_at=None,
    updated_at=NOW,
)


def outage(**changes: Any) -> ActiveOutage:
    return dataclasses.replace(BASE, **changes)


def say(account: AccountStatus, language: str = "en") -> str:
    return spoken(status_announcement(CATALOGS[language], account, now=NOW))


def test_status_comes_first_with_crew_and_etr() -> None:
    account = AccountStatus(account_number="1", name="M", premise=PREMISE, outage=outage())
    assert say(account) == (
        "We know about the outage at 12 Oak Street. A crew is working on it now. "
        "We expect power back by four thirty P M today. That time is an estimate and may change."
    )
    assert say(account, "es") == (
        "Sabemos que no hay luz en 12 Oak Street. Una cuadrilla ya está trabajando en el lugar. "
        "Esperamos restablecer el servicio hoy a las cuatro y media de la tarde. "
        "Es una hora estimada y puede cambiar."
    )


def test_no_estimate_dispatched_crew_and_no_outage() -> None:
    account = AccountStatus(
        account_number="1",
        name="M",
        premise=PREMISE,
        outage=outage(etr=None, crew_status=CrewStatus.DISPATCHED, cause="a tree on the line"),
    )
    assert say(account) == (
        "We know about the outage at 12 Oak Street. It was caused by a tree on the power line. "
        "A crew is on the way. We don't have an estimate yet of when power will be back. "
        "You can check again later on this line."
    )
    calm = AccountStatus(account_number="1", name="M", premise=PREMISE, outage=None)
    assert say(calm) == (
        "We have no outage recorded at 12 Oak Street. If your power is out, please report it."
    )


def test_planned_work_names_its_window() -> None:
    planned = outage(
        planned=True,
        starts_at=NOW + timedelta(days=3, hours=-3),
        ends_at=NOW + timedelta(days=3, hours=1),
        crew_status=CrewStatus.NONE,
    )
    account = AccountStatus(account_number="1", name="M", premise=PREMISE, outage=planned)
    assert say(account) == (
        "Planned maintenance will interrupt power at 12 Oak Street "
        "on Thursday from nine A M to one P M. The work may end earlier or later than planned."
    )


def test_causes_are_said_in_the_callers_language() -> None:
    for oms_cause, english, spanish in (
        ("Storm  damage", "It was caused by storm damage.", "La causa es daños por la tormenta."),
        (
            "Tree",
            "It was caused by a tree on the power line.",
            "La causa es un árbol sobre la línea.",
        ),
        ("Transformer fire", "It was caused by Transformer fire.", None),
    ):
        account = AccountStatus(
            account_number="1", name="M", premise=PREMISE, outage=outage(cause=oms_cause)
        )
        assert english in say(account)
        in_spanish = say(account, "es")
        if spanish is None:
            assert "La causa" not in in_spanish  # never an English phrase in a Spanish sentence
        else:
            assert spanish in in_spanish


def test_how_many_customers_follows_the_acknowledgement() -> None:
    account = AccountStatus(
        account_number="1", name="M", premise=PREMISE, outage=outage(customers_affected=1234)
    )
    assert say(account).startswith(
        "We know about the outage at 12 Oak Street. "
        "It affects about one thousand two hundred customers in your area. "
        "A crew is working on it now."
    )
    assert say(account, "es").startswith(
        "Sabemos que no hay luz en 12 Oak Street. "
        "El apagón afecta a aproximadamente mil doscientos clientes de su zona. "
        "Una cuadrilla ya está trabajando en el lugar."
    )


def test_how_many_customers_is_left_unsaid_when_unknown_or_only_the_caller() -> None:
    for customers in (None, 0, 1):
        account = AccountStatus(
            account_number="1",
            name="M",
            premise=PREMISE,
            outage=outage(customers_affected=customers),
        )
        assert say(account).startswith(
            "We know about the outage at 12 Oak Street. A crew is working on it now."
        )
        assert "clientes" not in say(account, "es")
