"""`outage-voice prune`: old call records, finished campaigns' calls and unused audio go; what
an open campaign, an open outage or a pending call-back needs stays."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from outage_voice import cli as outage_voice_cli
from outage_voice.adapters.audio_store import FileAudioStore
from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db.addresses import PgAddressStore
from outage_voice.adapters.db.prune import PgPruneStore
from outage_voice.domain.prompts import Catalog, Segment, address_segments, fixed_segments
from outage_voice.domain.retention import DEFAULT_AUDIO_RETENTION, BadAge, audio_age, parse_age
from outage_voice.services.retention import PruneReport, Retention
from outage_voice.services.speech import AudioInfo, audio_key
from tests.support import REPO_ROOT, T0, cli, cli_env

OLD = T0 - timedelta(days=500)
AGE = timedelta(days=400)


class FixedSurveyGap:
    def __init__(self, gap: timedelta = timedelta(days=30)) -> None:
        self.gap = gap

    async def survey_gap(self) -> timedelta:
        return self.gap


def retention(pool: asyncpg.Pool, audio_dir: Path, *, batch_rows: int = 5000) -> Retention:
    return Retention(
        PgPruneStore(pool),
        FileAudioStore(audio_dir, pool),
        ManualClock(T0),
        catalogs=load_catalogs(),
        addresses=PgAddressStore(pool),
        survey_gap=FixedSurveyGap(),
        batch_rows=batch_rows,
    )


async def inbound_call(
    pool: asyncpg.Pool, sid: str, started_at: datetime, *, ended: bool = True
) -> None:
    await pool.execute(
        "INSERT INTO inbound_calls (call_sid, caller, started_at, last_step_at, ended_at) "
        "VALUES ($1, '+15125550100', $2, $2, $3)",
        sid,
        started_at,
        started_at + timedelta(minutes=2) if ended else None,
    )


async def outage(pool: asyncpg.Pool, oms_id: str, status: str, at: datetime) -> int:
    outage_id: int = await pool.fetchval(
        "INSERT INTO outages (oms_id, status, state, created_at, updated_at) "
        "VALUES ($1, $2, '{}'::jsonb, $3, $3) RETURNING id",
        oms_id,
        status,
        at,
    )
    return outage_id


async def campaign(
    pool: asyncpg.Pool,
    *,
    state: str,
    finished_at: datetime | None,
    kind: str = "custom",
    outage_id: int | None = None,
    targets: int = 3,
    text: str | None = None,
) -> int:
    spec = {"message": {"key": None, "variables": {}, "text": text}}
    campaign_id: int = await pool.fetchval(
        "INSERT INTO campaigns (name, kind, state, spec, outage_id, cps, max_concurrent, "
        "window_opens, window_closes, created_by, created_at, updated_at, finished_at) "
        "VALUES ('c', $1, $2, $3, $4, 1, 1, '00:00', '00:00', 'test', $5, $5, $6) RETURNING id",
        kind,
        state,
        spec,
        outage_id,
        OLD - timedelta(days=1),
        finished_at,
    )
    for number in range(targets):
        phone = f"+1512555{campaign_id:02d}{number:02d}"
        target_id = await pool.fetchval(
            "INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids, "
            "language, timezone, state, outcome, attempts, updated_at) "
            "VALUES ($1, $2, '{}', '{}', 'en', 'America/Chicago', 'done', 'reached', 1, $3) "
            "RETURNING id",
            campaign_id,
            phone,
            OLD,
        )
        attempt_id = await pool.fetchval(
            "INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, status, "
            "call_sid, created_at, placed_at, ended_at) "
            "VALUES ($1, $2, 1, $3, 'completed', $4, $5, $5, $5) RETURNING id",
            target_id,
            campaign_id,
            phone,
            f"CA{campaign_id:08d}{number:024d}",
            OLD,
        )
        await pool.execute(
            "INSERT INTO survey_answers (attempt_id, question, campaign_id, value, answered_at) "
            "VALUES ($1, 'satisfied', $2, 4, $3)",
            attempt_id,
            campaign_id,
            OLD,
        )
    return campaign_id


async def rows(pool: asyncpg.Pool, table: str, campaign_id: int) -> int:
    count: int = await pool.fetchval(
        f"SELECT count(*) FROM {table} WHERE campaign_id = $1",
        campaign_id,
    )
    return count


async def test_old_inbound_calls_go_but_pending_callbacks_and_open_outages_keep_theirs(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await inbound_call(pool, "CA-old", OLD)
    await inbound_call(pool, "CA-old-never-ended", OLD, ended=False)
    await inbound_call(pool, "CA-recent", T0 - timedelta(days=10))
    await inbound_call(pool, "CA-old-callback", OLD)
    await pool.execute(
        "INSERT INTO callback_requests (phone, call_sid, created_at) "
        "VALUES ('+15125550100', 'CA-old-callback', $1)",
        OLD,
    )
    # An outage open for 450 days: who called since it began is what its rules read.
    await outage(pool, "OMS-long", "confirmed", T0 - timedelta(days=450))
    await inbound_call(pool, "CA-during-open-outage", T0 - timedelta(days=420))

    report = await retention(pool, tmp_path / "audio").prune(AGE, dry_run=False)

    left = {row["call_sid"] for row in await pool.fetch("SELECT call_sid FROM inbound_calls")}
    assert left == {"CA-recent", "CA-old-callback", "CA-during-open-outage"}
    assert report.counts["inbound_calls"] == 2


async def test_a_fulfilled_callback_no_longer_keeps_its_call(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await inbound_call(pool, "CA-called-back", OLD)
    await pool.execute(
        "INSERT INTO callback_requests (phone, call_sid, created_at, fulfilled_at) "
        "VALUES ('+15125550100', 'CA-called-back', $1, $1)",
        OLD,
    )
    await retention(pool, tmp_path / "audio").prune(AGE, dry_run=False)
    assert await pool.fetchval("SELECT count(*) FROM inbound_calls") == 0


async def test_finished_campaigns_lose_their_calls_open_ones_and_open_outages_keep_them(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    finished = await campaign(pool, state="completed", finished_at=OLD)
    cancelled = await campaign(pool, state="cancelled", finished_at=OLD)
    recent = await campaign(pool, state="completed", finished_at=T0 - timedelta(days=30))
    running = await campaign(pool, state="running", finished_at=None)
    paused = await campaign(pool, state="paused", finished_at=None)
    open_outage = await outage(pool, "OMS-open", "crew_dispatched", OLD)
    of_open_outage = await campaign(
        pool, state="completed", finished_at=OLD, kind="outage_ack", outage_id=open_outage
    )
    over = await outage(pool, "OMS-over", "restored", OLD)
    of_outage_over = await campaign(
        pool, state="completed", finished_at=OLD, kind="restoration", outage_id=over
    )
    with_callback = await campaign(pool, state="completed", finished_at=OLD, kind="survey")
    attempt = await pool.fetchval(
        "SELECT min(id) FROM call_attempts WHERE campaign_id = $1", with_callback
    )
    await pool.execute(
        "INSERT INTO survey_callbacks (attempt_id, campaign_id, phone, account_numbers, "
        "requested_at) VALUES ($1, $2, '+15125550100', '{}', $3)",
        attempt,
        with_callback,
        OLD,
    )

    report = await retention(pool, tmp_path / "audio").prune(AGE, dry_run=False)

    for gone in (finished, cancelled, of_outage_over):
        for table in ("campaign_targets", "call_attempts", "survey_answers"):
            assert await rows(pool, table, gone) == 0, (gone, table)
        # The campaign itself stays: a replayed outage event finds it.
        assert await pool.fetchval("SELECT count(*) FROM campaigns WHERE id = $1", gone) == 1
    for kept in (recent, running, paused, of_open_outage, with_callback):
        for table in ("campaign_targets", "call_attempts", "survey_answers"):
            assert await rows(pool, table, kept) == 3, (kept, table)
    assert set(report.campaigns) == {finished, cancelled, of_outage_over}
    assert report.counts["campaign_targets"] == 9
    assert report.counts["call_attempts"] == 9
    assert report.counts["survey_answers"] == 9


async def test_a_short_age_keeps_surveys_within_the_survey_gap(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Survey calls decide who may be asked again: a 1-day prune keeps a month of them."""
    survey = await campaign(
        pool, state="completed", finished_at=T0 - timedelta(days=3), kind="survey"
    )
    custom = await campaign(pool, state="completed", finished_at=T0 - timedelta(days=3))

    await retention(pool, tmp_path / "audio").prune(parse_age("1d"), dry_run=False)

    assert await rows(pool, "call_attempts", survey) == 3
    assert await rows(pool, "call_attempts", custom) == 0


async def test_dry_run_counts_what_the_prune_then_removes_and_removes_nothing(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await campaign(pool, state="completed", finished_at=OLD, targets=5)
    await campaign(pool, state="running", finished_at=None)
    for number in range(7):
        await inbound_call(pool, f"CA-{number}", OLD)
    before = await table_sizes(pool)

    dry = await retention(pool, tmp_path / "audio", batch_rows=2).prune(AGE, dry_run=True)

    assert await table_sizes(pool) == before
    real = await retention(pool, tmp_path / "audio", batch_rows=2).prune(AGE, dry_run=False)
    # Batches of two: seven calls and five targets take several statements each.
    assert dry.counts == real.counts
    assert real.counts["inbound_calls"] == 7
    assert real.counts["campaign_targets"] == 5
    assert real.counts["call_attempts"] == 5
    assert await pool.fetchval("SELECT count(*) FROM inbound_calls") == 0
    assert await pool.fetchval("SELECT count(*) FROM campaign_targets") == 3


async def table_sizes(pool: asyncpg.Pool) -> dict[str, int]:
    tables = ("inbound_calls", "campaign_targets", "call_attempts", "survey_answers")
    return {table: await pool.fetchval(f"SELECT count(*) FROM {table}") for table in tables}


def _wav(frames: int = 800) -> bytes:
    from outage_voice.adapters.audio import pcm_to_wav

    return pcm_to_wav(bytes(2 * frames), rate_hz=8000)


def _info(kind: str, text: str, language: str = "en-US") -> AudioInfo:
    data = _wav()
    return AudioInfo(
        key=audio_key(kind, "espeak", "en-us", language, text),
        kind=kind,
        engine="espeak",
        voice="en-us",
        language=language,
        text=text,
        duration_ms=100,
        size_bytes=len(data),
    )


async def _audio_on_elm_street(
    pool: asyncpg.Pool, tmp_path: Path, campaign_state: str
) -> tuple[Path, FileAudioStore, Catalog, Segment]:
    """An audio store, a premise on Elm Street and an open campaign that speaks of Elm."""
    folder = tmp_path / "audio"
    store = FileAudioStore(folder, pool)
    catalog = load_catalogs()["en"]
    menu = next(iter(fixed_segments(catalog)))
    await pool.execute(
        "INSERT INTO premises (premise_id, service_address, timezone) "
        "VALUES ('P1', '12 Elm Street', 'America/Chicago')"
    )
    await campaign(pool, state=campaign_state, finished_at=None, text="Crews are on Elm.")
    return folder, store, catalog, menu


async def test_unused_audio_goes_but_catalog_address_and_open_campaign_pieces_stay(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    folder, store, catalog, menu = await _audio_on_elm_street(pool, tmp_path, "running")
    pieces = {
        "catalog": _info("piece", menu.text, menu.language),
        "address": _info("piece", "Elm Street", catalog.tts_language),
        "open campaign": _info("piece", "Crews are on Elm.", catalog.tts_language),
        "old words": _info("piece", "A street long gone", catalog.tts_language),
        "old message": _info("message", "Your power is out"),
        "served elsewhere": _info("message", "Your power is back"),
        "new message": _info("message", "Power is back at noon"),
    }
    for name, info in pieces.items():
        used = T0 if name in ("served elsewhere", "new message") else OLD
        await store.save(info, _wav(), now=used)
        if name != "new message":
            for path in (store.path_of(info.key), store.path_of(info.key).with_suffix(".json")):
                os.utime(path, (OLD.timestamp(), OLD.timestamp()))
    # Another instance's file: its index row is long gone, its file old and unused.
    stranger = _info("message", "Made by another instance")
    await store.save(stranger, _wav(), now=OLD)
    await pool.execute("DELETE FROM audio_cache WHERE key = $1", stranger.key)
    os.utime(store.path_of(stranger.key), (OLD.timestamp(), OLD.timestamp()))
    assert "Elm Street" in _address_texts(catalog, "12 Elm Street")

    dry = await retention(pool, folder).prune(AGE, dry_run=True)
    assert all(store.path_of(info.key).exists() for info in pieces.values())
    report = await retention(pool, folder).prune(AGE, dry_run=False)

    gone = {"old words", "old message"}
    for name, info in pieces.items():
        assert store.path_of(info.key).exists() is (name not in gone), name
        assert store.path_of(info.key).with_suffix(".json").exists() is (name not in gone), name
    assert not store.path_of(stranger.key).exists()
    indexed = {row["key"] for row in await pool.fetch("SELECT key FROM audio_cache")}
    assert indexed == {info.key for name, info in pieces.items() if name not in gone}
    assert report.counts["audio_cache"] == dry.counts["audio_cache"] == 2
    assert report.counts["audio_files"] == dry.counts["audio_files"] == 3
    assert report.audio_bytes == 3 * len(_wav())


def _address_texts(catalog: Catalog, address: str) -> set[str]:
    return {segment.text for segment in address_segments(catalog, address)}


@pytest.mark.parametrize(
    ("text", "days"), [("400d", 400), ("2w", 14), ("36h", 1.5), ("24H", 1), (" 1d ", 1)]
)
def test_ages_are_read_in_hours_days_and_weeks(text: str, days: float) -> None:
    assert parse_age(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["12h", "0d", "23h", "400", "d", "1.5d", "-2d", "1y", ""])
def test_ages_under_a_day_or_unreadable_are_refused(text: str) -> None:
    with pytest.raises(BadAge):
        parse_age(text)


def test_the_command_refuses_an_age_under_a_day(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, database_dsn: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_dsn)
    assert outage_voice_cli.main(["prune", "--older-than", "12h"]) == 2
    err = capsys.readouterr().err
    assert "--older-than" in err and "under a day" in err


def test_the_command_prints_counts_per_table(database_dsn: str, tmp_path: Path) -> None:
    env = cli_env(DATABASE_URL=database_dsn, OUTAGE_VOICE_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        cli("prune", "--older-than", "400d", "--dry-run"),
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("dry run: would remove what is older than ")
    for table in ("inbound_calls", "call_attempts", "campaign_targets", "audio_files"):
        assert any(line.split()[:2] == [table, "0"] for line in lines), (table, lines)
    assert lines[-1] == "nothing was removed (dry run)"


def test_the_report_reads_as_lines_for_a_terminal_or_a_cron_mail() -> None:
    from outage_voice.retention_cli import report_lines

    report = PruneReport(
        cutoff=OLD, dry_run=False, counts={"inbound_calls": 12}, audio_bytes=2_500_000
    )
    lines = report_lines(report, audio_dir="/var/lib/outage-voice/audio")
    assert lines[0].startswith("removed what is older than 2025-")
    assert "inbound_calls" in lines[1] and lines[1].rstrip().endswith("12")
    assert "(2.5 MB in /var/lib/outage-voice/audio)" in lines[-1]


async def _stored(store: FileAudioStore, info: AudioInfo, at: datetime) -> None:
    """Audio made and last served at `at`, on this instance's disk and in the index."""
    await store.save(info, _wav(), now=at)
    for path in (store.path_of(info.key), store.path_of(info.key).with_suffix(".json")):
        os.utime(path, (at.timestamp(), at.timestamp()))


async def test_audio_goes_after_30_days_by_default_while_call_records_that_old_stay(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    folder = tmp_path / "audio"
    store = FileAudioStore(folder, pool)
    forty_days_ago = T0 - timedelta(days=40)
    await inbound_call(pool, "CA-40-days", forty_days_ago)
    finished = await campaign(
        pool, state="completed", finished_at=forty_days_ago, text="Crews are on Oak."
    )
    stale = _info("message", "Your power is out on Oak Street")
    lately = _info("message", "Your power is back on Oak Street")
    words = _info("piece", "Crews are on Oak.", load_catalogs()["en"].tts_language)
    await _stored(store, stale, forty_days_ago)
    await _stored(store, lately, T0 - timedelta(days=20))
    await _stored(store, words, forty_days_ago)  # its campaign is over: nothing holds it

    dry = await retention(pool, folder).prune(AGE, dry_run=True)
    report = await retention(pool, folder).prune(AGE, dry_run=False)

    assert report.cutoff == T0 - AGE
    assert report.audio_cutoff == T0 - timedelta(days=30)
    assert await pool.fetchval("SELECT count(*) FROM inbound_calls") == 1
    assert await rows(pool, "call_attempts", finished) == 3
    assert not store.path_of(stale.key).exists()
    assert not store.path_of(words.key).exists()
    assert store.path_of(lately.key).exists()
    indexed = {row["key"] for row in await pool.fetch("SELECT key FROM audio_cache")}
    assert indexed == {lately.key}
    assert dry.counts == report.counts
    assert report.counts["inbound_calls"] == 0
    assert report.counts["audio_cache"] == report.counts["audio_files"] == 2
    assert dry.audio_bytes == report.audio_bytes == 2 * len(_wav())


async def test_a_short_audio_age_still_keeps_catalog_address_and_open_campaign_pieces(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    folder, store, catalog, menu = await _audio_on_elm_street(pool, tmp_path, "paused")
    kept = {
        "catalog": _info("piece", menu.text, menu.language),
        "address": _info("piece", "Elm Street", catalog.tts_language),
        "open campaign": _info("piece", "Crews are on Elm.", catalog.tts_language),
        "served today": _info("message", "Power is back at noon"),
    }
    gone = {
        "old words": _info("piece", "A street long gone", catalog.tts_language),
        "two days old": _info("message", "Your power is out"),
    }
    used = {"served today": T0 - timedelta(hours=2), "two days old": T0 - timedelta(days=2)}
    for name, info in {**kept, **gone}.items():
        await _stored(store, info, used.get(name, OLD))

    dry = await retention(pool, folder).prune(AGE, dry_run=True, audio_older_than=parse_age("1d"))
    report = await retention(pool, folder).prune(
        AGE, dry_run=False, audio_older_than=parse_age("1d")
    )

    assert report.audio_cutoff == T0 - timedelta(days=1)
    for name, info in kept.items():
        assert store.path_of(info.key).exists(), name
    for name, info in gone.items():
        assert not store.path_of(info.key).exists(), name
    indexed = {row["key"] for row in await pool.fetch("SELECT key FROM audio_cache")}
    assert indexed == {info.key for info in kept.values()}
    assert dry.counts == report.counts
    assert report.counts["audio_cache"] == report.counts["audio_files"] == 2


async def test_the_audio_age_follows_a_shorter_call_record_age_and_may_not_be_longer(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    week = parse_age("7d")
    report = await retention(pool, tmp_path / "audio").prune(week, dry_run=True)
    assert report.audio_cutoff == report.cutoff == T0 - week
    with pytest.raises(BadAge, match="longer than the call records"):
        await retention(pool, tmp_path / "audio").prune(
            week, dry_run=True, audio_older_than=parse_age("30d")
        )


def test_audio_ages_default_to_30_days_capped_by_the_records_age() -> None:
    assert audio_age(parse_age("400d"), None) == DEFAULT_AUDIO_RETENTION == timedelta(days=30)
    assert audio_age(parse_age("2w"), None) == timedelta(weeks=2)
    assert audio_age(parse_age("400d"), parse_age("36h")) == timedelta(hours=36)
    assert audio_age(parse_age("400d"), parse_age("400d")) == timedelta(days=400)
    with pytest.raises(BadAge, match=r"36h is longer .* \(1d\)"):
        audio_age(parse_age("1d"), parse_age("36h"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--audio-older-than", "12h"], "under a day"),
        (["--audio-older-than", "month"], "is not an age"),
        (["--older-than", "7d", "--audio-older-than", "30d"], "longer than the call records"),
    ],
)
def test_the_command_refuses_an_audio_age_under_a_day_or_past_the_records(
    args: list[str],
    says: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_dsn: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_dsn)
    assert outage_voice_cli.main(["prune", *args]) == 2
    err = capsys.readouterr().err
    assert "--audio-older-than" in err and says in err


def test_the_command_prints_the_audio_cutoff(database_dsn: str, tmp_path: Path) -> None:
    env = cli_env(DATABASE_URL=database_dsn, OUTAGE_VOICE_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        cli("prune", "--older-than", "400d", "--audio-older-than", "2w", "--dry-run"),
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    found = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", first)
    assert len(found) == 2 and "audio not served since" in first, first
    records, audio = (datetime.strptime(t, "%Y-%m-%d %H:%M:%SZ") for t in found)
    assert audio - records == timedelta(days=400 - 14)
