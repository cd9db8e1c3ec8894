"""How the demo tells what each caller on the line did, and containment, in words."""

from __future__ import annotations

from outage_voice.demo import caller_did, containment_words
from outage_voice.domain.inbound_calls import CallOutcome, CallSummary


def call(sid: str, outcome: CallOutcome, *path: str) -> CallSummary:
    return CallSummary(call_sid=sid, outcome=outcome, path=path)


CALLS = [
    call("CA1", CallOutcome.SELF_SERVED, "status", "goodbye"),
    call("CA2", CallOutcome.CALLBACK_REQUESTED, "status", "pick", "callback"),
    call("CA3", CallOutcome.TRANSFERRED, "status", "agent"),
    call("CA4", CallOutcome.REPORTED, "status", "report"),
]


def test_containment_is_a_sentence_a_supervisor_can_read() -> None:
    assert containment_words(CALLS) == (
        "3 of 4 callers served themselves, 1 asked for a representative"
    )
    hung_up = [*CALLS, call("CA5", CallOutcome.ABANDONED, "identify")]
    assert containment_words(hung_up) == (
        "3 of 5 callers served themselves, 1 asked for a representative, "
        "1 hung up before hearing their status"
    )


def test_each_caller_s_steps_in_the_order_taken() -> None:
    assert caller_did(CALLS[0]) == "heard their status and needed nothing more"
    assert caller_did(CALLS[1]) == "picked one of their homes, then asked for a call back"
    assert caller_did(CALLS[2]) == "asked for a representative and was put through"
    no_agent = call("CA6", CallOutcome.SELF_SERVED, "status", "agent_closed")
    assert caller_did(no_agent).startswith("asked for a representative (this line has none")
    assert caller_did(call("CA7", CallOutcome.ABANDONED)) == "hung up before hearing their status"
