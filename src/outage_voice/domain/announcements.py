"""What a caller hears first: their outage status, built from catalog messages."""

from __future__ import annotations

from datetime import datetime

from outage_voice.domain.numbers import Approximate
from outage_voice.domain.outages import CrewStatus
from outage_voice.domain.prompts import Catalog, Moment, Segment, Window, render
from outage_voice.domain.status import AccountStatus


def scope(catalog: Catalog, customers: int | None, *, now: datetime) -> tuple[Segment, ...]:
    """How many customers the outage affects, when that says more than "you": unknown, or
    only the one customer listening, it is left unsaid."""
    if customers is None or customers <= 1:
        return ()
    return render(catalog, "outage_scope", {"customers": Approximate(count=customers)}, now=now)


def status_announcement(
    catalog: Catalog, account: AccountStatus, *, now: datetime
) -> tuple[Segment, ...]:
    """Status first: whether we know (and how widely it reaches), the cause, the crew, and
    when power should be back."""
    premise = account.premise
    outage = account.outage
    address = {"address": premise.service_address}
    if outage is None:
        return render(catalog, "no_outage", address, now=now)
    if outage.planned and outage.starts_at is not None and outage.ends_at is not None:
        window = Window(
            starts_at=outage.starts_at, ends_at=outage.ends_at, timezone=premise.timezone
        )
        return render(catalog, "outage_known_planned", address | {"window": window}, now=now)
    segments = list(render(catalog, "outage_known", address, now=now))
    segments += scope(catalog, outage.customers_affected, now=now)
    cause = catalog.cause_words(outage.cause) if outage.cause else None
    if cause:
        segments += render(catalog, "cause", {"cause": cause}, now=now)
    if outage.crew_status is CrewStatus.ON_SITE:
        segments += render(catalog, "crew_on_site", {}, now=now)
    elif outage.crew_status is CrewStatus.DISPATCHED:
        segments += render(catalog, "crew_dispatched", {}, now=now)
    if outage.etr is None:
        segments += render(catalog, "etr_unknown", {}, now=now)
    else:
        moment = Moment(at=outage.etr, timezone=premise.timezone)
        segments += render(catalog, "etr_known", {"etr": moment}, now=now)
    return tuple(segments)
