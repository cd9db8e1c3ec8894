"""When the leader's schedule ticks: a cron expression (`OUTAGE_VOICE_SCHEDULE_CRON`), checked
once, where the configuration is read, and again by the tickers that wait on it."""

from __future__ import annotations

from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

DEFAULT_SCHEDULE_CRON = "* * * * *"  # every minute
# Any moment does: whether an expression parses does not depend on when it is read.
_CHECKED_FROM = datetime(2000, 1, 1, tzinfo=UTC)


class BadCron(ValueError):
    pass


def check_cron(spec: str) -> str:
    """The expression, or BadCron saying why it is not one."""
    try:
        CronSim(spec, _CHECKED_FROM)
    except CronSimError as exc:
        raise BadCron(f"{spec!r} is not a cron expression ({exc})") from None
    return spec
