"""Plain-English status sentences, for logs, the demo and anywhere audio is not wanted."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from outage_voice.domain.outages import CrewStatus
from outage_voice.domain.status import AccountStatus


def clock_phrase(moment: datetime, *, now: datetime, timezone: str) -> str:
    """'4:30 PM today', '7 AM tomorrow', 'Thursday at noon' in the customer's own time zone."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    today = now.astimezone(zone).date()
    if local.hour == 12 and local.minute == 0:
        time_words = "noon"
    elif local.hour == 0 and local.minute == 0:
        time_words = "midnight"
    else:
        hour = local.hour % 12 or 12
        suffix = "AM" if local.hour < 12 else "PM"
        time_words = (
            f"{hour} {suffix}" if local.minute == 0 else f"{hour}:{local.minute:02d} {suffix}"
        )
    days = (local.date() - today).days
    if days == 0:
        return f"{time_words} today"
    if days == 1:
        return f"{time_words} tomorrow"
    if 1 < days < 7:
        return f"{local.strftime('%A')} at {time_words}"
    return f"{local.strftime('%B')} {local.day} at {time_words}"


def status_sentence(account: AccountStatus, *, now: datetime) -> str:
    address = account.premise.service_address
    outage = account.outage
    if outage is None:
        return f"We have no outage recorded at {address}."
    parts = [f"We know about the outage at {address}."]
    if outage.cause:
        parts.append(f"The cause is {outage.cause}.")
    if outage.crew_status is CrewStatus.ON_SITE:
        parts.append("A crew is on site.")
    elif outage.crew_status is CrewStatus.DISPATCHED:
        parts.append("A crew is on the way.")
    if outage.etr is None:
        parts.append("We don't have an estimate for restoration yet.")
    else:
        when = clock_phrase(outage.etr, now=now, timezone=account.premise.timezone)
        parts.append(f"We expect power back by {when}.")
    return " ".join(parts)
