"""Customer import: a CIS export in, checked row by row, written in one transaction."""

from __future__ import annotations

import csv
import logging
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from outage_voice.domain.customers import (
    CUSTOMER_CSV_COLUMNS,
    CustomerDefaults,
    CustomerRow,
    ImportCounts,
    RowRejection,
    missing_columns,
    parse_customer_row,
)
from outage_voice.domain.errors import DomainError
from outage_voice.domain.languages import catalog_language
from outage_voice.services.ports import CustomerStore

logger = logging.getLogger(__name__)

IMPORT_CHUNK_ROWS = 50_000
# Line numbers of rows in a language without prompts listed in the summary; the rest counted.
LISTED_LINES = 20
# The csv module refuses fields over 128 KiB; anything near that is a broken file, not a name.
csv.field_size_limit(1 << 17)


class ImportFileError(DomainError):
    """The file as a whole can't be read as a customer file; nothing was imported."""


@dataclass(kw_only=True, slots=True)
class ImportReport:
    counts: ImportCounts
    rejections: list[RowRejection] = field(default_factory=list)
    rows_read: int = 0
    default_language: str = "en"
    # Rows imported with a language no prompt catalog speaks: they hear the default language.
    unspoken: int = 0
    unspoken_languages: dict[str, int] = field(default_factory=dict)
    unspoken_lines: list[int] = field(default_factory=list)  # the first LISTED_LINES

    @property
    def summary(self) -> str:
        line = (
            f"imported {self.counts.imported}, updated {self.counts.updated}, "
            f"unchanged {self.counts.unchanged}, rejected {len(self.rejections)}"
        )
        if not self.unspoken:
            return line
        languages = ", ".join(sorted(self.unspoken_languages))
        lines = ", ".join(map(str, self.unspoken_lines))
        if self.unspoken > len(self.unspoken_lines):
            lines += f" and {self.unspoken - len(self.unspoken_lines)} more"
        return (
            f"{line}; {self.unspoken} with no prompts in their language ({languages}), "
            f"spoken in {self.default_language}: line{'s' if self.unspoken > 1 else ''} {lines}"
        )

    def note_unspoken(self, row: CustomerRow) -> None:
        self.unspoken += 1
        self.unspoken_languages[row.language] = self.unspoken_languages.get(row.language, 0) + 1
        if len(self.unspoken_lines) < LISTED_LINES:
            self.unspoken_lines.append(row.line)


class CustomerImportService:
    def __init__(
        self,
        store: CustomerStore,
        defaults: CustomerDefaults,
        *,
        spoken_languages: frozenset[str] | None = None,
    ) -> None:
        """`spoken_languages`: the languages with a prompt catalog (None: not checked). A row
        whose language, nor its base language, has none is imported as given, so it is spoken
        in that language once a catalog exists; until then it hears `defaults.language`, and
        the report says so."""
        self._store = store
        self._defaults = defaults
        self._spoken = spoken_languages

    def _speaks(self, language: str) -> bool:
        """A catalog for the tag or its base language (`es-MX` hears `es`)."""
        assert self._spoken is not None
        return catalog_language(language, self._spoken) is not None

    async def import_file(
        self,
        path: Path,
        *,
        encoding: str = "utf-8-sig",
        on_rejection: Callable[[RowRejection], None] | None = None,
    ) -> ImportReport:
        try:
            with path.open(encoding=encoding, newline="") as stream:
                return await self.import_stream(stream, on_rejection=on_rejection)
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"{path.name} is not {encoding} text (byte {exc.start}); "
                "export it as UTF-8 or pass --encoding"
            ) from None
        except OSError as exc:
            raise ImportFileError(f"can't read {path}: {exc.strerror}") from None

    async def import_stream(
        self, stream: TextIO, *, on_rejection: Callable[[RowRejection], None] | None = None
    ) -> ImportReport:
        report = ImportReport(
            counts=ImportCounts(imported=0, updated=0, unchanged=0),
            default_language=self._defaults.language,
        )

        def reject(rejection: RowRejection) -> None:
            report.rejections.append(rejection)
            if on_rejection is not None:
                on_rejection(rejection)

        chunks = self._chunks(stream, report, reject)
        report.counts = await self._store.import_rows(chunks)
        logger.info("customer import: %s", report.summary)
        return report

    def _chunks(
        self, stream: TextIO, report: ImportReport, reject: Callable[[RowRejection], None]
    ) -> Iterator[list[CustomerRow]]:
        reader = csv.reader(stream, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFileError("the file is empty; expected a header line") from None
        except csv.Error as exc:
            raise ImportFileError(f"line 1: {exc}") from None
        missing = missing_columns(header)
        if missing:
            raise ImportFileError(
                f"header lacks {', '.join(missing)}; expected {','.join(CUSTOMER_CSV_COLUMNS)}"
            )
        positions = {name.strip().lower(): index for index, name in enumerate(header)}
        in_column_order = operator.itemgetter(
            *(positions[column] for column in CUSTOMER_CSV_COLUMNS)
        )
        width = len(header)
        first_line_of: dict[str, int] = {}
        chunk: list[CustomerRow] = []
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                report.rows_read += 1
                reject(RowRejection(line=reader.line_num, reason=f"unreadable CSV: {exc}"))
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            report.rows_read += 1
            line = reader.line_num
            if len(fields) != width:
                reject(
                    RowRejection(line=line, reason=f"expected {width} fields, found {len(fields)}")
                )
                continue
            parsed = parse_customer_row(in_column_order(fields), line=line, defaults=self._defaults)
            if isinstance(parsed, RowRejection):
                reject(parsed)
                continue
            first = first_line_of.setdefault(parsed.account_number, line)
            if first != line:
                reject(
                    RowRejection(
                        line=line,
                        reason=f"duplicate account_number {parsed.account_number!r} "
                        f"(first on line {first})",
                    )
                )
                continue
            if self._spoken is not None and not self._speaks(parsed.language):
                report.note_unspoken(parsed)
            chunk.append(parsed)
            if len(chunk) >= IMPORT_CHUNK_ROWS:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
