"""Retention: call records, finished campaigns' calls and unused audio older than a cutoff.

What anything still running needs is never removed: an open campaign's rows, the calls of an
outage still open (its automation reads them), a call-back still to make, and the audio
pieces the prompt catalogs, the customers' addresses and open campaigns' words are made of.
A message's audio may go: every <Play> URL carries its recipe, so it is made again if fetched.
Audio, being a cache, goes by its own, shorter age (30 days by default, never longer than the
call records'), since it is what fills a disk in a storm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from outage_voice.domain.automation import AutomationRules
from outage_voice.domain.prompts import Catalog, fixed_segments
from outage_voice.domain.retention import audio_age
from outage_voice.services.ports import Clock
from outage_voice.services.speech import AddressSource, address_pieces

# Rows per statement: each batch is its own short transaction, so a prune of millions of
# rows never holds a lock for more than a moment while the outage line keeps writing.
PRUNE_BATCH_ROWS = 5000
# Audio keys looked up in the index per statement.
AUDIO_BATCH_KEYS = 1000
# The tables a prune reports on, in the order it prints them.
TABLES = (
    "inbound_calls",
    "call_attempts",
    "campaign_targets",
    "survey_answers",
    "survey_comments",
    "survey_callbacks",
    "audio_cache",
    "audio_files",
)

TableCounts = dict[str, int]


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexedAudio:
    """What is known of a stored piece or message: enough to tell whether it is in use."""

    key: str
    kind: str  # "piece" or "message"
    language: str
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PruneReport:
    cutoff: datetime
    dry_run: bool
    counts: Mapping[str, int]
    audio_bytes: int = 0
    # Audio not served since this went (or would go); None: the same as `cutoff`.
    audio_cutoff: datetime | None = None
    # Finished campaigns whose targets and calls were (or would be) removed.
    campaigns: tuple[int, ...] = field(default=())


class PruneStore(Protocol):
    async def inbound_calls(self, *, before: datetime, limit: int | None, dry_run: bool) -> int: ...

    async def finished_campaigns(
        self, *, before: datetime, surveys_before: datetime
    ) -> list[int]: ...

    async def campaign_rows(self, campaign_ids: Sequence[int]) -> TableCounts: ...

    async def delete_campaign_attempts(self, campaign_id: int, *, limit: int) -> TableCounts: ...

    async def delete_campaign_targets(self, campaign_id: int, *, limit: int) -> int: ...

    async def open_campaign_texts(self) -> frozenset[str]: ...

    async def unused_audio(
        self, *, before: datetime, after_key: str, limit: int
    ) -> list[IndexedAudio]: ...

    async def delete_audio(self, keys: Sequence[str], *, before: datetime) -> int: ...

    async def used_since(self, keys: Sequence[str], *, since: datetime) -> frozenset[str]: ...


class AudioFiles(Protocol):
    async def written_before(self, before: datetime) -> list[tuple[IndexedAudio, int]]:
        """Audio files on this instance's disk last written before `before`, with their
        sizes in bytes (files whose words are unknown are not listed: they are left alone)."""
        ...

    async def remove(self, key: str) -> None: ...


class SurveyGap(Protocol):
    async def survey_gap(self) -> timedelta:
        """The least time between two survey calls to one number (the automation's rule)."""
        ...


class Retention:
    def __init__(
        self,
        store: PruneStore,
        files: AudioFiles,
        clock: Clock,
        *,
        catalogs: Mapping[str, Catalog],
        addresses: AddressSource,
        survey_gap: SurveyGap,
        batch_rows: int = PRUNE_BATCH_ROWS,
    ) -> None:
        self._store = store
        self._files = files
        self._clock = clock
        self._catalogs = catalogs
        self._addresses = addresses
        self._survey_gap = survey_gap
        self._batch = batch_rows

    async def prune(
        self,
        older_than: timedelta,
        *,
        dry_run: bool,
        audio_older_than: timedelta | None = None,
    ) -> PruneReport:
        """Call records past `older_than`; unused audio past `audio_older_than` (by default
        the shorter of DEFAULT_AUDIO_RETENTION and `older_than`; BadAge if longer than it)."""
        now = self._clock.now()
        cutoff = now - older_than
        audio_cutoff = now - audio_age(older_than, audio_older_than)
        counts: TableCounts = dict.fromkeys(TABLES, 0)
        counts["inbound_calls"] = await self._inbound_calls(cutoff, dry_run=dry_run)
        surveys_before = min(cutoff, now - await self._survey_gap.survey_gap())
        campaigns = await self._store.finished_campaigns(
            before=cutoff, surveys_before=surveys_before
        )
        for table, count in (await self._campaign_rows(campaigns, dry_run=dry_run)).items():
            counts[table] += count
        in_use = await self._pieces_in_use()
        counts["audio_cache"] = await self._audio_index(audio_cutoff, in_use, dry_run=dry_run)
        counts["audio_files"], audio_bytes = await self._audio_files(
            audio_cutoff, in_use, dry_run=dry_run
        )
        return PruneReport(
            cutoff=cutoff,
            dry_run=dry_run,
            counts=counts,
            audio_bytes=audio_bytes,
            audio_cutoff=audio_cutoff,
            campaigns=tuple(campaigns),
        )

    async def _inbound_calls(self, cutoff: datetime, *, dry_run: bool) -> int:
        if dry_run:
            return await self._store.inbound_calls(before=cutoff, limit=None, dry_run=True)
        total = 0
        while True:  # ends: every batch but the last removes a full batch of old rows
            removed = await self._store.inbound_calls(
                before=cutoff, limit=self._batch, dry_run=False
            )
            total += removed
            if removed < self._batch:
                return total

    async def _campaign_rows(self, campaigns: Sequence[int], *, dry_run: bool) -> TableCounts:
        if not campaigns:
            return {}
        if dry_run:
            return await self._store.campaign_rows(campaigns)
        counts: TableCounts = {}
        for campaign_id in campaigns:
            while True:
                batch = await self._store.delete_campaign_attempts(campaign_id, limit=self._batch)
                for table, count in batch.items():
                    counts[table] = counts.get(table, 0) + count
                if batch.get("call_attempts", 0) < self._batch:
                    break
            while True:
                removed = await self._store.delete_campaign_targets(campaign_id, limit=self._batch)
                counts["campaign_targets"] = counts.get("campaign_targets", 0) + removed
                if removed < self._batch:
                    break
        return counts

    async def _pieces_in_use(self) -> _InUse:
        pairs = {
            (segment.language, segment.text)
            for catalog in self._catalogs.values()
            for segment in fixed_segments(catalog)
        }
        addresses = await self._addresses.all_addresses()
        pairs.update((s.language, s.text) for s in address_pieces(self._catalogs, addresses))
        return _InUse(pairs=frozenset(pairs), texts=await self._store.open_campaign_texts())

    async def _audio_index(self, cutoff: datetime, in_use: _InUse, *, dry_run: bool) -> int:
        total = 0
        after = ""
        while True:  # keyset over the index: each round starts past the last key seen
            rows = await self._store.unused_audio(before=cutoff, after_key=after, limit=self._batch)
            unused = [row.key for row in rows if not in_use.holds(row)]
            if unused:
                total += (
                    len(unused)
                    if dry_run
                    else await self._store.delete_audio(unused, before=cutoff)
                )
            if len(rows) < self._batch:
                return total
            after = rows[-1].key

    async def _audio_files(
        self, cutoff: datetime, in_use: _InUse, *, dry_run: bool
    ) -> tuple[int, int]:
        old = await self._files.written_before(cutoff)
        candidates = [(audio, size) for audio, size in old if not in_use.holds(audio)]
        files = 0
        removed_bytes = 0
        for start in range(0, len(candidates), AUDIO_BATCH_KEYS):
            chunk = candidates[start : start + AUDIO_BATCH_KEYS]
            # Another instance may have served it lately: the index is shared, the disk not.
            recent = await self._store.used_since([a.key for a, _ in chunk], since=cutoff)
            for audio, size in chunk:
                if audio.key in recent:
                    continue
                if not dry_run:
                    await self._files.remove(audio.key)
                files += 1
                removed_bytes += size
        return files, removed_bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class _InUse:
    """Pieces that must stay: catalogs' and addresses' (language, words), open campaigns'
    words. Messages are never held: any instance makes one again from its URL's recipe."""

    pairs: frozenset[tuple[str, str]]
    texts: frozenset[str]

    def holds(self, audio: IndexedAudio) -> bool:
        if audio.kind != "piece":
            return False
        return (audio.language, audio.text) in self.pairs or audio.text in self.texts


class RulesSource(Protocol):
    async def rules(self) -> AutomationRules: ...


class RulesSurveyGap:
    """The survey gap in the automation's rules as the supervisor set them."""

    def __init__(self, rules: RulesSource) -> None:
        self._rules = rules

    async def survey_gap(self) -> timedelta:
        return timedelta(seconds=(await self._rules.rules()).survey.per_customer_gap_s)
