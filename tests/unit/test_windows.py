from __future__ import annotations

from datetime import UTC, datetime

import pytest

from outage_voice.domain.windows import BadWindow, parse_daily_window

CHICAGO = "America/Chicago"


def test_daytime_window() -> None:
    window = parse_daily_window("08:00-21:00")
    noon_chicago = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    assert window.is_open(noon_chicago, CHICAGO)
    assert not window.is_open(noon_chicago, "Asia/Tokyo")  # 03:00 there
    late = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)  # 21:30 in Chicago
    assert not window.is_open(late, CHICAGO)
    assert window.next_open(late, CHICAGO) == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert window.next_open(noon_chicago, CHICAGO) == noon_chicago


def test_window_past_midnight_and_always() -> None:
    night = parse_daily_window("22:00-06:00")
    assert night.is_open(datetime(2026, 11, 24, 5, 0, tzinfo=UTC), CHICAGO)  # 23:00
    assert night.is_open(datetime(2026, 11, 24, 11, 0, tzinfo=UTC), CHICAGO)  # 05:00
    assert not night.is_open(datetime(2026, 11, 24, 18, 0, tzinfo=UTC), CHICAGO)
    for always in ("", "24h", "00:00-24:00"):
        assert parse_daily_window(always).always


def test_next_open_across_a_daylight_saving_change() -> None:
    window = parse_daily_window("08:00-21:00")
    # Saturday 2027-03-13 22:00 CST; clocks spring forward that night.
    saturday_night = datetime(2027, 3, 14, 4, 0, tzinfo=UTC)
    assert window.next_open(saturday_night, CHICAGO) == datetime(2027, 3, 14, 13, 0, tzinfo=UTC)


def test_naive_time_and_bad_text_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_daily_window("08:00-21:00").is_open(datetime(2026, 11, 23, 12, 0), CHICAGO)
    for bad in ("8-21", "08:00", "08:00-21:75", "31:00-08:00"):
        with pytest.raises(BadWindow):
            parse_daily_window(bad)
