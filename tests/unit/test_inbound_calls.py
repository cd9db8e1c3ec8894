from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from outage_voice.domain.inbound_calls import (
    MAX_PATH_STEPS,
    CallEnd,
    CallOutcome,
    CallStep,
    fold,
    stronger,
)
from tests.support import T0


def test_the_strongest_outcome_wins_in_any_order() -> None:
    assert stronger(CallOutcome.TRANSFERRED, CallOutcome.REPORTED) is CallOutcome.TRANSFERRED
    assert stronger(CallOutcome.REPORTED, CallOutcome.TRANSFERRED) is CallOutcome.TRANSFERRED
    assert stronger(CallOutcome.ABANDONED, CallOutcome.SELF_SERVED) is CallOutcome.SELF_SERVED


def test_fold_keeps_order_per_call_and_bounds_the_path() -> None:
    def step(sid: str, name: str, seconds: int, outcome: CallOutcome) -> CallStep:
        return CallStep(
            call_sid=sid, caller="+15125550100", at=T0 + timedelta(seconds=seconds), step=name,
            outcome=outcome,
        )  # fmt: skip

    events: list[CallStep | CallEnd] = [
        step("CA1", "status", 0, CallOutcome.SELF_SERVED),
        step("CA2", "identify", 1, CallOutcome.ABANDONED),
        step("CA1", "report", 9, CallOutcome.REPORTED),
        CallEnd(call_sid="CA1", at=T0 + timedelta(seconds=20), duration_s=21, status="completed"),
        CallEnd(call_sid="CA3", at=T0, duration_s=2, status="completed"),
    ]
    deltas = {d.call_sid: d for d in fold(events)}
    assert deltas["CA1"].path == ("status", "report")
    assert deltas["CA1"].outcome is CallOutcome.REPORTED
    assert deltas["CA1"].duration_s == 21
    assert deltas["CA1"].last_at - deltas["CA1"].first_at == timedelta(seconds=9)
    assert deltas["CA2"].outcome is CallOutcome.ABANDONED
    assert deltas["CA3"].path == () and deltas["CA3"].end_status == "completed"
    looping = [step("CA9", "menu:9", i, CallOutcome.ABANDONED) for i in range(200)]
    assert len(fold(list(looping))[0].path) == MAX_PATH_STEPS


def test_the_first_end_of_a_call_is_kept() -> None:
    ends: list[CallStep | CallEnd] = [
        CallEnd(call_sid="CA1", at=T0, duration_s=87, status="completed"),
        CallEnd(call_sid="CA1", at=T0, duration_s=999, status="completed"),
    ]
    assert fold(ends)[0].duration_s == 87


def test_folded_deltas_are_values_the_store_cannot_change() -> None:
    delta = fold([CallStep(call_sid="CA1", caller="+15125550100", at=T0, step="status")])[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        delta.outcome = CallOutcome.TRANSFERRED  # type: ignore[misc]  # the write must fail
