"""A synthetic utility: deterministic customers for the demo, tests and benchmarks."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from outage_voice.domain.customers import CUSTOMER_CSV_COLUMNS

STREETS = (
    "Oak Street",
    "Maple Avenue",
    "Cedar Lane",
    "Pecan Drive",
    "Elm Street",
    "Mesquite Trail",
    "Live Oak Road",
    "Bluebonnet Way",
    "Riverside Drive",
    "Hill Country Boulevard",
)
FIRST_NAMES = (
    "Maria",
    "James",
    "Linda",
    "Jose",
    "Robert",
    "Ana",
    "David",
    "Sarah",
    "Luis",
    "Emily",
)
LAST_NAMES = (
    "Garcia",
    "Smith",
    "Johnson",
    "Martinez",
    "Brown",
    "Lopez",
    "Davis",
    "Miller",
    "Wilson",
)
TIMEZONES = ("America/Chicago", "America/Chicago", "America/Chicago", "America/Denver")
# Central Texas area codes; exchanges 200-999 are assignable, so every number here is valid.
AREA_CODES = ("512", "737", "254")


@dataclass(frozen=True, kw_only=True, slots=True)
class SyntheticUtility:
    customers: int
    feeders: int
    seed: int = 7

    def feeder_of(self, index: int) -> str:
        return f"FDR-{index % self.feeders + 1:03d}"

    def phone_of(self, index: int) -> str:
        area = AREA_CODES[index % len(AREA_CODES)]
        exchange = 200 + (index // 10_000) % 800
        return f"({area}) {exchange}-{index % 10_000:04d}"

    def primary_phone_of(self, index: int) -> str:
        """The number on customer `index`'s account; some households hold two accounts."""
        return self.phone_of(index - 1 if index % 50 == 1 else index)

    def rows(self) -> Iterator[list[str]]:
        rng = random.Random(self.seed)
        for index in range(self.customers):
            premise = f"P{index:07d}"
            yield [
                f"{100000000 + index}",
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                self.primary_phone_of(index),
                self.phone_of(index + self.customers) if index % 7 == 0 else "",
                premise,
                f"{10 + index % 990} {rng.choice(STREETS)}",
                self.feeder_of(index),
                TIMEZONES[index % len(TIMEZONES)],
                "es" if index % 5 == 0 else "en",
            ]

    def write_csv(self, stream: TextIO) -> None:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(CUSTOMER_CSV_COLUMNS)
        writer.writerows(self.rows())
