"""Call records: what happened on every simulated call, for tests, the demo and benchmarks."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, TextIO


class CallStatus(StrEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.NO_ANSWER,
        CallStatus.FAILED,
        CallStatus.CANCELED,
    }
)


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


@dataclass(kw_only=True)
class CallRecord:
    sid: str
    account_sid: str
    direction: str
    to: str
    from_: str
    url: str
    method: str
    status_callback: str | None
    status_callback_events: frozenset[str]
    status_callback_method: str
    machine_detection: str | None
    timeout_s: float
    created_at: datetime
    persona: str
    async_amd_callback: str | None = None
    status: CallStatus = CallStatus.QUEUED
    start_time: datetime | None = None
    answered_at: datetime | None = None
    end_time: datetime | None = None
    answered_by: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    transfer_to: str | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    digits_sent: list[str] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_s(self) -> int:
        if self.answered_at is None or self.end_time is None:
            return 0
        return round((self.end_time - self.answered_at).total_seconds())

    def note(self, at: datetime, event: str, **details: Any) -> None:
        self.timeline.append({"at": at.isoformat(), "event": event, **details})

    def spoken_text(self) -> str:
        """Everything the far end heard, in order, as one string: what tests assert on."""
        return " ".join(entry["text"] for entry in self.transcript if entry.get("text"))

    def to_json(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies every nested list (seconds per
        # few thousand calls), and the nested entries are already plain JSON values.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["from"] = data.pop("from_")
        data["status"] = self.status.value
        data["status_callback_events"] = sorted(self.status_callback_events)
        data["duration_s"] = self.duration_s
        for key in ("created_at", "start_time", "answered_at", "end_time"):
            value = getattr(self, key)
            data[key] = None if value is None else value.isoformat()
        return data


def write_jsonl(calls: list[CallRecord], stream: TextIO) -> None:
    for call in calls:
        stream.write(json.dumps(call.to_json(), default=str) + "\n")
