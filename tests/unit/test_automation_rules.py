"""The outage lifecycle rules: what each change to an outage sends, holds, coalesces,
withdraws or skips, and the supervisor's rules document. Pure: no database, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outage_voice.domain.automation import (
    ACK_STATUSES,
    DEFAULT_PACING,
    NEWS_TRIGGERS,
    NO_LONGER_AFFECTED,
    OUTAGE_CANCELLED,
    REOPENED,
    RESTORED_FIRST,
    AcknowledgeRule,
    AllClearRule,
    AppendTargets,
    AudienceRule,
    AutomationRules,
    AutomationState,
    EtrUpdateRule,
    EventPacing,
    OutageChange,
    OutageFacts,
    Outcome,
    PlanCampaign,
    Trigger,
    Verdict,
    Withdraw,
    merge_rules,
    on_change,
    on_due,
    outage_change,
    rules_from_json,
)
from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.errors import InvalidField
from outage_voice.domain.outages import OutageState, OutageStatus
from outage_voice.domain.windows import DailyWindow

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
ETR = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
C = OutageStatus
NO_HOLD = AutomationRules(acknowledge=AcknowledgeRule(blink_hold_s=0))
HOLD = AutomationRules()  # the defaults: a 300 s blink hold
# The withdrawals a restoration, a cancellation and a reopening always make.
RESTORED_WITHDRAW = Withdraw(
    reason=RESTORED_FIRST,
    triggers=(Trigger.CONFIRMED, Trigger.CREW_DISPATCHED, Trigger.ETR_CHANGED),
)
CANCELLED_WITHDRAW = Withdraw(reason=OUTAGE_CANCELLED)
REOPENED_WITHDRAW = Withdraw(reason=REOPENED, triggers=(Trigger.RESTORED,))


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def created(status: OutageStatus = C.CONFIRMED, **fields: Any) -> OutageChange:
    base: dict[str, Any] = {
        "created": True,
        "status_before": None,
        "status": status,
        "etr_before": None,
        "etr": None,
        "cause_changed": False,
        "planned": False,
        "premises_added": ("P1", "P2"),
    }
    return OutageChange(**{**base, **fields})


def changed(
    before: OutageStatus = C.CONFIRMED, status: OutageStatus | None = None, **fields: Any
) -> OutageChange:
    base: dict[str, Any] = {
        "created": False,
        "status_before": before,
        "status": before if status is None else status,
        "etr_before": None,
        "etr": None,
        "cause_changed": False,
        "planned": False,
    }
    return OutageChange(**{**base, **fields})


def etr_move(before: datetime | None, after: datetime | None) -> OutageChange:
    return changed(etr_before=before, etr=after)


def step(
    state: AutomationState,
    change: OutageChange,
    event_id: int,
    *,
    rules: AutomationRules = NO_HOLD,
    now: datetime = NOW,
) -> Outcome:
    return on_change(state, change, event_id=event_id, rules=rules, now=now)


def acknowledged(etr: datetime | None = ETR) -> AutomationState:
    """An outage whose acknowledgement went out at NOW (event 1) speaking `etr`."""
    return step(AutomationState(), created(etr=etr), 1).state


def verdicts(outcome: Outcome) -> list[tuple[str, Verdict]]:
    return [(d.event, d.verdict) for d in outcome.decisions]


def plans(outcome: Outcome) -> list[PlanCampaign]:
    return [a for a in outcome.actions if isinstance(a, PlanCampaign)]


def facts(
    status: OutageStatus = C.CONFIRMED, etr: datetime | None = ETR, planned: bool = False
) -> OutageFacts:
    return OutageFacts(status=status, etr=etr, planned=planned)


# --- 3. acknowledge ------------------------------------------------------------------------


def test_without_a_blink_hold_the_acknowledgement_is_planned_at_once() -> None:
    outcome = step(AutomationState(), created(etr=ETR), 7)
    assert outcome.actions == (
        PlanCampaign(trigger=Trigger.CONFIRMED, event_id=7, kind=CampaignKind.OUTAGE_ACK),
    )
    assert outcome.state.acknowledged and outcome.state.etr_told
    assert outcome.state.announced_etr == ETR
    assert outcome.state.due_at() is None
    # The acknowledgement speaks the ETR: no second decision about the same ETR.
    assert verdicts(outcome) == [("confirmed", Verdict.PLANNED)]
    assert outcome.decisions[0].reason and "ETR" in outcome.decisions[0].reason


def test_a_blink_hold_holds_the_acknowledgement_then_plans_it_with_the_latest_etr() -> None:
    held = step(AutomationState(), created(), 3, rules=HOLD)
    assert held.actions == ()
    assert verdicts(held) == [("confirmed", Verdict.HELD)]
    assert held.state.ack_due_at == NOW + timedelta(seconds=300)
    assert held.state.ack_event_id == 3 and held.state.ack_trigger is Trigger.CONFIRMED
    assert not held.state.acknowledged
    # An ETR given during the hold is for the acknowledgement to speak.
    moved = step(held.state, etr_move(None, ETR), 4, rules=HOLD, now=at(1))
    assert moved.actions == () and verdicts(moved) == [("etr_changed", Verdict.COALESCED)]
    early = on_due(moved.state, facts(), rules=HOLD, now=at(4))
    assert early == Outcome(state=moved.state)
    due = on_due(moved.state, facts(etr=ETR), rules=HOLD, now=at(5))
    assert due.actions == (
        PlanCampaign(trigger=Trigger.CONFIRMED, event_id=3, kind=CampaignKind.OUTAGE_ACK),
    )
    assert due.state.acknowledged and due.state.announced_etr == ETR
    assert due.state.ack_due_at is None and due.state.due_at() is None


def test_blink_restored_within_the_hold_sends_nothing_not_even_an_all_clear() -> None:
    held = step(AutomationState(), created(), 1, rules=HOLD).state
    restored = step(held, changed(C.CONFIRMED, C.RESTORED), 2, rules=HOLD, now=at(2))
    assert restored.actions == (RESTORED_WITHDRAW,)  # no all-clear
    assert verdicts(restored) == [("restored", Verdict.WITHDRAWN), ("confirmed", Verdict.SKIPPED)]
    assert restored.decisions[1].reason == "blink: restored within the hold"
    assert restored.state.closed and restored.state.due_at() is None
    assert on_due(restored.state, facts(C.RESTORED), rules=HOLD, now=at(10)).actions == ()


def test_a_hold_of_zero_and_a_hold_above_zero_differ_only_in_waiting() -> None:
    zero = step(AutomationState(), created(), 1, rules=NO_HOLD)
    one = step(AutomationState(), created(), 1, rules=replace_ack(blink_hold_s=1))
    assert plans(zero) and not plans(one)
    assert one.state.ack_due_at == NOW + timedelta(seconds=1)
    assert plans(on_due(one.state, facts(), rules=NO_HOLD, now=at(1))) == plans(zero)


def replace_ack(**fields: Any) -> AutomationRules:
    return replace(NO_HOLD, acknowledge=replace(NO_HOLD.acknowledge, **fields))


def test_an_outage_first_seen_with_a_crew_on_site_is_acknowledged() -> None:
    outcome = step(AutomationState(), created(C.CREW_ON_SITE), 1)
    assert [p.trigger for p in plans(outcome)] == [Trigger.CONFIRMED]
    # Listed statuses: the furthest one reached names the acknowledgement.
    both = replace_ack(on=(C.CONFIRMED, C.CREW_DISPATCHED))
    outcome = step(AutomationState(), created(C.CREW_ON_SITE), 1, rules=both)
    assert [p.trigger for p in plans(outcome)] == [Trigger.CREW_DISPATCHED]


def test_acknowledging_on_crew_dispatched_waits_for_the_crew() -> None:
    rules = replace_ack(on=(C.CREW_DISPATCHED,))
    first = step(AutomationState(), created(C.REPORTED), 1, rules=rules)
    confirmed = step(first.state, changed(C.REPORTED, C.CONFIRMED), 2, rules=rules)
    assert confirmed.actions == () and confirmed.decisions == ()
    crew = step(confirmed.state, changed(C.CONFIRMED, C.CREW_DISPATCHED), 3, rules=rules)
    assert plans(crew) == [
        PlanCampaign(trigger=Trigger.CREW_DISPATCHED, event_id=3, kind=CampaignKind.OUTAGE_ACK)
    ]
    # Once acknowledged, a crew on site is no reason for another call.
    on_site = step(crew.state, changed(C.CREW_DISPATCHED, C.CREW_ON_SITE), 4, rules=rules)
    assert on_site.actions == ()


def test_a_reported_outage_is_not_acknowledged() -> None:
    outcome = step(AutomationState(), created(C.REPORTED, etr=ETR), 1)
    assert outcome.actions == ()
    assert verdicts(outcome) == [("etr_changed", Verdict.SKIPPED)]


def test_planned_work_is_skipped_and_said_once() -> None:
    first = step(AutomationState(), created(planned=True), 1)
    assert first.actions == ()
    assert verdicts(first) == [("confirmed", Verdict.SKIPPED)]
    assert first.decisions[0].reason and "planned" in first.decisions[0].reason
    later = step(first.state, changed(planned=True, cause_changed=True), 2)
    assert later.actions == () and later.decisions == ()
    etr = step(first.state, changed(planned=True, etr=ETR), 3)
    assert etr.actions == ()


def test_acknowledgements_turned_off() -> None:
    rules = replace_ack(enabled=False)
    outcome = step(AutomationState(), created(), 1, rules=rules)
    assert outcome.actions == () and verdicts(outcome) == [("confirmed", Verdict.SKIPPED)]
    # With no acknowledgement to speak it, the ETR is an update of its own.
    etr = step(outcome.state, etr_move(None, ETR), 2, rules=rules)
    assert [p.trigger for p in plans(etr)] == [Trigger.ETR_CHANGED]


def test_an_acknowledgement_turned_off_during_the_hold_is_not_sent() -> None:
    held = step(AutomationState(), created(), 1, rules=HOLD).state
    due = on_due(
        held, facts(), rules=replace(HOLD, acknowledge=AcknowledgeRule(enabled=False)), now=at(5)
    )
    assert due.actions == () and verdicts(due) == [("confirmed", Verdict.SKIPPED)]
    assert due.state.due_at() is None


# --- 4. ETR --------------------------------------------------------------------------------


def test_an_etr_change_under_the_threshold_is_skipped() -> None:
    state = acknowledged()
    outcome = step(state, etr_move(ETR, ETR + timedelta(minutes=29)), 2, now=at(90))
    assert outcome.actions == ()
    assert verdicts(outcome) == [("etr_changed", Verdict.SKIPPED)]
    assert outcome.decisions[0].reason and "threshold" in outcome.decisions[0].reason
    assert outcome.state.announced_etr == ETR


def test_small_moves_that_add_up_past_the_threshold_are_sent() -> None:
    # Compared with the ETR customers heard, not the one before: 20 + 20 min is 40 min off.
    state = acknowledged()
    first = step(state, etr_move(ETR, ETR + timedelta(minutes=20)), 2, now=at(90))
    assert first.actions == ()
    second = step(
        first.state,
        etr_move(ETR + timedelta(minutes=20), ETR + timedelta(minutes=40)),
        3,
        now=at(95),
    )
    assert plans(second) == [
        PlanCampaign(trigger=Trigger.ETR_CHANGED, event_id=3, kind=CampaignKind.ETR_UPDATE)
    ]
    assert second.state.announced_etr == ETR + timedelta(minutes=40)
    assert second.state.etr_updates == 1 and second.state.last_etr_update_at == at(95)


def test_exactly_the_threshold_is_significant() -> None:
    state = acknowledged()
    outcome = step(state, etr_move(ETR, ETR + timedelta(seconds=1800)), 2, now=at(90))
    assert len(plans(outcome)) == 1


def test_an_etr_cleared_is_significant() -> None:
    state = acknowledged(ETR)
    outcome = step(state, etr_move(ETR, None), 2, now=at(90))
    assert [p.trigger for p in plans(outcome)] == [Trigger.ETR_CHANGED]
    assert outcome.state.announced_etr is None
    assert outcome.decisions[0].reason and "no reliable estimate" in outcome.decisions[0].reason


def test_the_promised_update_bypasses_the_cap() -> None:
    rules = replace(NO_HOLD, etr_update=EtrUpdateRule(max_per_outage=0))
    state = acknowledged(etr=None)  # told "we will call when we have an estimate"
    first = step(state, etr_move(None, ETR), 2, rules=rules, now=at(10))
    assert [p.trigger for p in plans(first)] == [Trigger.ETR_CHANGED]
    assert first.state.etr_updates == 1
    second = step(first.state, etr_move(ETR, ETR + timedelta(hours=2)), 3, rules=rules, now=at(200))
    assert second.actions == ()
    assert second.decisions[0].reason and second.decisions[0].reason.startswith("cap reached")


def test_the_cap_on_updates_per_outage() -> None:
    rules = replace(NO_HOLD, etr_update=EtrUpdateRule(max_per_outage=2, per_customer_gap_s=0))
    state = acknowledged()
    etr = ETR
    sent = 0
    for event_id in range(2, 6):
        moved = etr + timedelta(hours=1)
        outcome = step(state, etr_move(etr, moved), event_id, rules=rules, now=at(event_id))
        sent += len(plans(outcome))
        state, etr = outcome.state, moved
    assert sent == 2 and state.etr_updates == 2
    assert verdicts(outcome) == [("etr_changed", Verdict.SKIPPED)]


def test_a_change_inside_the_gap_is_coalesced_and_falls_due_with_the_latest_etr() -> None:
    state = acknowledged()
    sent = step(state, etr_move(ETR, ETR + timedelta(hours=1)), 2, now=at(0))
    assert sent.state.last_etr_update_at == at(0)
    inside = step(
        sent.state, etr_move(ETR + timedelta(hours=1), ETR + timedelta(hours=2)), 3, now=at(10)
    )
    assert inside.actions == () and verdicts(inside) == [("etr_changed", Verdict.COALESCED)]
    assert inside.state.etr_due_at == at(60) and inside.state.etr_event_id == 3
    # A later change inside the gap: the due update speaks for the latest event.
    latest = ETR + timedelta(hours=3)
    again = step(inside.state, etr_move(ETR + timedelta(hours=2), latest), 4, now=at(20))
    assert again.state.etr_due_at == at(60) and again.state.etr_event_id == 4
    assert on_due(again.state, facts(etr=latest), rules=NO_HOLD, now=at(59)).actions == ()
    due = on_due(again.state, facts(etr=latest), rules=NO_HOLD, now=at(60))
    assert plans(due) == [
        PlanCampaign(trigger=Trigger.ETR_CHANGED, event_id=4, kind=CampaignKind.ETR_UPDATE)
    ]
    assert due.state.announced_etr == latest and due.state.etr_updates == 2
    assert due.state.etr_due_at is None and due.state.etr_event_id is None


def test_a_change_after_the_gap_plans_at_once_and_replaces_the_coalesced_update() -> None:
    # The worker was away when the coalesced update fell due: the next change carries it.
    state = acknowledged()
    sent = step(state, etr_move(ETR, ETR + timedelta(hours=1)), 2, now=at(0)).state
    inside = step(
        sent, etr_move(ETR + timedelta(hours=1), ETR + timedelta(hours=2)), 3, now=at(10)
    ).state
    later = step(
        inside, etr_move(ETR + timedelta(hours=2), ETR + timedelta(hours=3)), 4, now=at(70)
    )
    assert [p.event_id for p in plans(later)] == [4]
    assert later.state.etr_due_at is None and later.state.etr_event_id is None
    assert later.state.announced_etr == ETR + timedelta(hours=3)


def test_a_coalesced_update_back_to_the_announced_etr_is_skipped_when_due() -> None:
    state = acknowledged()
    sent = step(state, etr_move(ETR, ETR + timedelta(hours=1)), 2, now=at(0)).state
    inside = step(
        sent, etr_move(ETR + timedelta(hours=1), ETR + timedelta(hours=2)), 3, now=at(10)
    ).state
    due = on_due(inside, facts(etr=ETR + timedelta(hours=1)), rules=NO_HOLD, now=at(60))
    assert due.actions == () and verdicts(due) == [("etr_changed", Verdict.SKIPPED)]
    assert due.state.due_at() is None


@pytest.mark.parametrize(
    ("cap", "clearing"), [(3, Verdict.COALESCED), (1, Verdict.SKIPPED)], ids=["gap", "cap"]
)
def test_an_etr_cleared_then_set_back_near_the_old_one_is_the_promised_call(
    cap: int, clearing: Verdict
) -> None:
    # Update 1 announces Y. The ETR is cleared inside the gap (coalesced) or past the cap
    # (skipped): calls of update 1 answered now say "we will call you when we do". It is then
    # set back near Y: that is the promised call, neither under the threshold nor capped.
    rules = replace(NO_HOLD, etr_update=EtrUpdateRule(max_per_outage=cap))
    y = ETR + timedelta(hours=1)
    sent = step(acknowledged(), etr_move(ETR, y), 2, rules=rules, now=at(0))
    assert len(plans(sent)) == 1 and sent.state.announced_etr == y
    cleared = step(sent.state, etr_move(y, None), 3, rules=rules, now=at(10))
    assert cleared.actions == () and verdicts(cleared) == [("etr_changed", clearing)]
    assert cleared.state.etr_cleared_since_announced
    near = y + timedelta(minutes=10)
    back = step(cleared.state, etr_move(None, near), 4, rules=rules, now=at(20))
    assert verdicts(back) == [("etr_changed", Verdict.COALESCED)]
    assert back.state.etr_event_id == 4 and back.state.etr_due_at == at(60)
    due = on_due(back.state, facts(etr=near), rules=rules, now=at(60))
    assert plans(due) == [
        PlanCampaign(trigger=Trigger.ETR_CHANGED, event_id=4, kind=CampaignKind.ETR_UPDATE)
    ]
    assert due.decisions[0].reason and "promised" in due.decisions[0].reason
    assert due.state.announced_etr == near and not due.state.etr_cleared_since_announced
    # Once that call is planned, a small move is small again.
    later = step(
        due.state, etr_move(near, near + timedelta(minutes=5)), 5, rules=rules, now=at(200)
    )
    assert later.actions == () and verdicts(later) == [("etr_changed", Verdict.SKIPPED)]


def test_an_etr_cleared_and_said_so_needs_no_flag() -> None:
    # Outside the gap the clearing is its own update: the next ETR is promised anyway.
    cleared = step(acknowledged(), etr_move(ETR, None), 2, now=at(90))
    assert len(plans(cleared)) == 1 and not cleared.state.etr_cleared_since_announced
    back = step(cleared.state, etr_move(None, ETR), 3, now=at(200))
    assert len(plans(back)) == 1


def test_a_due_update_after_the_restoration_does_nothing() -> None:
    state = acknowledged()
    sent = step(state, etr_move(ETR, ETR + timedelta(hours=1)), 2, now=at(0)).state
    inside = step(
        sent, etr_move(ETR + timedelta(hours=1), ETR + timedelta(hours=2)), 3, now=at(10)
    ).state
    assert inside.etr_due_at is not None
    restored = step(inside, changed(C.CONFIRMED, C.RESTORED), 4, now=at(20)).state
    assert restored.due_at() is None
    assert on_due(restored, facts(C.RESTORED), rules=NO_HOLD, now=at(60)) == Outcome(state=restored)
    # Even a due update the restoration did not clear (a state from before it) sends nothing.
    stale = on_due(replace(inside, closed=True), facts(C.RESTORED), rules=NO_HOLD, now=at(60))
    assert stale.actions == () and stale.state.due_at() is None


def test_etr_updates_turned_off() -> None:
    rules = replace(NO_HOLD, etr_update=EtrUpdateRule(enabled=False))
    outcome = step(acknowledged(), etr_move(ETR, ETR + timedelta(hours=2)), 2, rules=rules)
    assert outcome.actions == () and verdicts(outcome) == [("etr_changed", Verdict.SKIPPED)]


# --- 5. grew, 6. shrank --------------------------------------------------------------------


def test_a_growing_outage_appends_to_the_acknowledgement_only_once_acknowledged() -> None:
    grew = changed(premises_added=("P9",), feeders_added=("F2",))
    outcome = step(acknowledged(), grew, 5)
    assert outcome.actions == (AppendTargets(event_id=5, premises=("P9",), feeders=("F2",)),)
    assert verdicts(outcome) == [("premises_added", Verdict.APPENDED)]
    held = step(AutomationState(), created(), 1, rules=HOLD).state
    assert step(held, grew, 5, rules=HOLD).actions == ()
    reported = step(AutomationState(), created(C.REPORTED), 1).state
    assert step(reported, changed(C.REPORTED, premises_added=("P9",)), 2).actions == ()


def test_a_confirmation_that_also_grows_the_outage_plans_one_acknowledgement() -> None:
    reported = step(AutomationState(), created(C.REPORTED), 1).state
    outcome = step(reported, changed(C.REPORTED, C.CONFIRMED, premises_added=("P9",)), 2)
    assert [type(a) for a in outcome.actions] == [PlanCampaign]


def test_a_shrinking_outage_withdraws_and_clears_those_told() -> None:
    shrank = changed(premises_removed=("P2",), feeders_removed=("F1",))
    outcome = step(acknowledged(), shrank, 6)
    assert outcome.actions == (
        Withdraw(reason=NO_LONGER_AFFECTED, triggers=NEWS_TRIGGERS, only_unaffected=True),
        PlanCampaign(
            trigger=Trigger.RESTORED,
            event_id=6,
            kind=CampaignKind.RESTORATION,
            audience=AudienceRule.REMOVED,
            premises=("P2",),
            feeders=("F1",),
        ),
    )
    no_all_clear = replace(NO_HOLD, all_clear=AllClearRule(enabled=False))
    outcome = step(acknowledged(), shrank, 6, rules=no_all_clear)
    assert outcome.actions == (
        Withdraw(reason=NO_LONGER_AFFECTED, triggers=NEWS_TRIGGERS, only_unaffected=True),
    )
    # Nothing planned yet: nothing to withdraw, nobody to clear.
    reported = step(AutomationState(), created(C.REPORTED), 1).state
    assert step(reported, changed(C.REPORTED, premises_removed=("P2",)), 2).actions == ()


def test_a_partial_all_clear_follows_an_etr_update_when_acknowledgements_are_off() -> None:
    rules = replace_ack(enabled=False)
    quiet = step(AutomationState(), created(), 1, rules=rules).state
    assert step(quiet, changed(premises_removed=("P2",)), 2, rules=rules).actions == ()
    told = step(quiet, etr_move(None, ETR), 2, rules=rules).state
    outcome = step(told, changed(premises_removed=("P2",)), 3, rules=rules)
    assert [type(a) for a in outcome.actions] == [Withdraw, PlanCampaign]


# --- 1. cancelled, 2. restored -------------------------------------------------------------


def test_cancelled_withdraws_everything_and_clears_what_was_due() -> None:
    state = acknowledged()
    sent = step(state, etr_move(ETR, ETR + timedelta(hours=1)), 2, now=at(0)).state
    inside = step(
        sent, etr_move(ETR + timedelta(hours=1), ETR + timedelta(hours=2)), 3, now=at(10)
    ).state
    outcome = step(inside, changed(C.CONFIRMED, C.CANCELLED), 4, now=at(11))
    assert outcome.actions == (Withdraw(reason=OUTAGE_CANCELLED),)
    assert verdicts(outcome) == [("cancelled", Verdict.WITHDRAWN)]
    assert outcome.state.closed and outcome.state.due_at() is None
    again = step(outcome.state, changed(C.CANCELLED, cause_changed=True), 5)
    assert again.actions == () and again.decisions == ()


def test_cancelled_during_the_hold_drops_the_acknowledgement() -> None:
    held = step(AutomationState(), created(), 1, rules=HOLD).state
    outcome = step(held, changed(C.CONFIRMED, C.CANCELLED), 2, rules=HOLD)
    assert outcome.actions == (CANCELLED_WITHDRAW,)
    assert outcome.state.due_at() is None and outcome.state.closed
    assert on_due(outcome.state, facts(C.CANCELLED), rules=HOLD, now=at(10)).actions == ()


def test_restored_withdraws_pending_calls_and_plans_the_all_clear() -> None:
    outcome = step(acknowledged(), changed(C.CREW_ON_SITE, C.RESTORED), 9)
    assert outcome.actions == (
        Withdraw(
            reason=RESTORED_FIRST,
            triggers=(Trigger.CONFIRMED, Trigger.CREW_DISPATCHED, Trigger.ETR_CHANGED),
        ),
        PlanCampaign(
            trigger=Trigger.RESTORED,
            event_id=9,
            kind=CampaignKind.RESTORATION,
            audience=AudienceRule.ALL_CLEAR,
        ),
    )
    assert outcome.state.closed
    no_all_clear = replace(NO_HOLD, all_clear=AllClearRule(enabled=False))
    quiet = step(acknowledged(), changed(C.CONFIRMED, C.RESTORED), 9, rules=no_all_clear)
    assert [type(a) for a in quiet.actions] == [Withdraw]
    assert ("restored", Verdict.SKIPPED) in verdicts(quiet)


def test_an_outage_created_restored_is_skipped() -> None:
    outcome = step(AutomationState(), created(C.RESTORED), 1)
    assert outcome.actions == ()
    assert verdicts(outcome) == [("restored", Verdict.SKIPPED)]
    assert outcome.decisions[0].reason == "restored when first seen"
    assert outcome.state.closed


def test_a_reopened_outage_is_active_again() -> None:
    restored = step(acknowledged(), changed(C.CONFIRMED, C.RESTORED), 2).state
    assert restored.closed
    reopened = step(restored, changed(C.RESTORED, C.CONFIRMED, etr_before=ETR, etr=ETR), 3)
    assert not reopened.state.closed
    assert reopened.actions == (
        REOPENED_WITHDRAW,
        PlanCampaign(trigger=Trigger.CONFIRMED, event_id=3, kind=CampaignKind.OUTAGE_ACK),
    )
    moved = step(reopened.state, etr_move(ETR, ETR + timedelta(hours=2)), 4, now=at(120))
    assert [p.trigger for p in plans(moved)] == [Trigger.ETR_CHANGED]
    again = step(moved.state, changed(C.CONFIRMED, C.RESTORED), 5, now=at(130))
    assert [p.event_id for p in plans(again)] == [5]
    # Cancelled before anyone was told, then reopened: acknowledged as a new outage.
    held = step(AutomationState(), created(), 1, rules=HOLD).state
    cancelled = step(held, changed(C.CONFIRMED, C.CANCELLED), 2, rules=HOLD).state
    back = step(cancelled, changed(C.CANCELLED, C.CONFIRMED), 3, rules=HOLD, now=at(30))
    assert verdicts(back) == [("reopened", Verdict.WITHDRAWN), ("confirmed", Verdict.HELD)]
    assert back.actions == (REOPENED_WITHDRAW,) and back.state.ack_event_id == 3


def test_a_reopened_outage_withdraws_its_all_clear_and_is_acknowledged_again() -> None:
    # Told, given two ETR updates (the cap), then restored: the all-clear is calling.
    rules = replace(HOLD, etr_update=EtrUpdateRule(max_per_outage=2, per_customer_gap_s=0))
    state = on_due(
        step(AutomationState(), created(etr=ETR), 1, rules=rules).state,
        facts(etr=ETR),
        rules=rules,
        now=at(5),
    ).state
    etr = ETR
    for event_id in (2, 3):
        moved = etr + timedelta(hours=1)
        state = step(state, etr_move(etr, moved), event_id, rules=rules, now=at(event_id)).state
        etr = moved
    assert state.acknowledged and state.etr_updates == 2
    restored = step(
        state, changed(C.CONFIRMED, C.RESTORED, etr_before=etr), 4, rules=rules, now=at(10)
    )
    assert [p.trigger for p in plans(restored)] == [Trigger.RESTORED]
    # The OMS reopens it: the all-clear's calls not made yet are withdrawn, and the outage is
    # acknowledged again from the start, blink hold included.
    reopened = step(
        restored.state, changed(C.RESTORED, C.CONFIRMED, etr=etr), 5, rules=rules, now=at(20)
    )
    assert reopened.actions == (REOPENED_WITHDRAW,)
    assert verdicts(reopened) == [("reopened", Verdict.WITHDRAWN), ("confirmed", Verdict.HELD)]
    assert reopened.decisions[0].reason and "acknowledged again" in reopened.decisions[0].reason
    fresh = reopened.state
    assert not fresh.closed and not fresh.acknowledged and not fresh.etr_told
    assert fresh.announced_etr is None and fresh.etr_updates == 0
    assert fresh.ack_event_id == 5 and fresh.ack_due_at == at(25)
    # Back within the hold: a blink again; nobody hears an all-clear for it.
    blink = step(
        fresh, changed(C.CONFIRMED, C.RESTORED, etr_before=etr), 6, rules=rules, now=at(22)
    )
    assert plans(blink) == [] and blink.actions == (RESTORED_WITHDRAW,)
    # Still out at the end of the hold: acknowledged, and ETR updates have their cap again.
    due = on_due(fresh, facts(etr=etr), rules=rules, now=at(25))
    assert plans(due) == [
        PlanCampaign(trigger=Trigger.CONFIRMED, event_id=5, kind=CampaignKind.OUTAGE_ACK)
    ]
    assert due.state.announced_etr == etr
    moved = step(due.state, etr_move(etr, etr + timedelta(hours=1)), 7, rules=rules, now=at(30))
    assert [p.trigger for p in plans(moved)] == [Trigger.ETR_CHANGED]
    again = step(moved.state, changed(C.CONFIRMED, C.RESTORED), 8, rules=rules, now=at(40))
    assert [(p.trigger, p.event_id) for p in plans(again)] == [(Trigger.RESTORED, 8)]


def test_restored_with_nobody_told_sends_no_all_clear() -> None:
    # Reported, then restored without ever being confirmed: nothing was planned.
    reported = step(AutomationState(), created(C.REPORTED), 1).state
    outcome = step(reported, changed(C.REPORTED, C.RESTORED), 2)
    assert plans(outcome) == [] and outcome.actions == (RESTORED_WITHDRAW,)
    assert verdicts(outcome) == [("restored", Verdict.WITHDRAWN), ("restored", Verdict.SKIPPED)]
    assert outcome.decisions[1].reason == "nobody was told of the outage: no all-clear"
    assert outcome.state.closed
    # Acknowledgements off and no ETR ever given: nobody told either.
    quiet_rules = replace_ack(enabled=False)
    quiet = step(AutomationState(), created(), 1, rules=quiet_rules).state
    assert plans(step(quiet, changed(C.CONFIRMED, C.RESTORED), 2, rules=quiet_rules)) == []


def test_a_held_acknowledgement_found_restored_when_due_sends_no_all_clear() -> None:
    # The hold falls due while the restoration's event still waits to be worked: the due
    # work sees the outage restored and drops the acknowledgement; the restoration then
    # finds no hold, and must still know that nobody was told.
    held = step(AutomationState(), created(), 1, rules=HOLD).state
    due = on_due(held, facts(C.RESTORED), rules=HOLD, now=at(5))
    assert due.actions == () and due.state.ack_due_at is None
    restored = step(due.state, changed(C.CONFIRMED, C.RESTORED), 2, rules=HOLD, now=at(5))
    assert plans(restored) == [] and restored.actions == (RESTORED_WITHDRAW,)
    assert ("restored", Verdict.SKIPPED) in verdicts(restored)


def test_restored_after_cancelled_sends_no_all_clear() -> None:
    cancelled = step(acknowledged(), changed(C.CONFIRMED, C.CANCELLED), 2).state
    outcome = step(cancelled, changed(C.CANCELLED, C.RESTORED), 3)
    assert plans(outcome) == [] and outcome.actions == (RESTORED_WITHDRAW,)
    assert verdicts(outcome) == [("restored", Verdict.WITHDRAWN), ("restored", Verdict.SKIPPED)]
    assert outcome.decisions[1].reason and "cancelled" in outcome.decisions[1].reason
    assert outcome.state.closed


def test_restored_and_cancelled_always_withdraw_whatever_the_state_says() -> None:
    # A campaign planned by due work whose state write was lost (a crash): the state still
    # says the acknowledgement is held, or nothing at all. Its pending calls go all the same.
    held = step(AutomationState(), created(), 1, rules=HOLD).state
    for state in (held, AutomationState()):
        restored = step(state, changed(C.CONFIRMED, C.RESTORED), 2, rules=HOLD, now=at(6))
        assert restored.actions == (RESTORED_WITHDRAW,)
        cancelled = step(state, changed(C.CONFIRMED, C.CANCELLED), 2, rules=HOLD, now=at(6))
        assert cancelled.actions == (CANCELLED_WITHDRAW,)
        assert verdicts(cancelled) == [("cancelled", Verdict.WITHDRAWN)]
    # Written again while closed: decided already, nothing more.
    restored = step(held, changed(C.CONFIRMED, C.RESTORED), 2, rules=HOLD).state
    assert step(restored, changed(C.RESTORED, cause_changed=True), 3).actions == ()


def test_a_second_removal_leaves_the_first_partial_all_clear_calling() -> None:
    # Every removal's withdrawal names the calls about the outage only: the partial all-clear
    # the previous removal planned calls customers off the outage by definition.
    first = step(acknowledged(), changed(premises_removed=("P2",)), 2)
    second = step(first.state, changed(premises_removed=("P1",)), 3)
    for outcome in (first, second):
        withdrawals = [a for a in outcome.actions if isinstance(a, Withdraw)]
        assert len(withdrawals) == 1
        assert withdrawals[0].triggers == (
            Trigger.CONFIRMED,
            Trigger.CREW_DISPATCHED,
            Trigger.ETR_CHANGED,
        )
        assert Trigger.RESTORED not in withdrawals[0].triggers
    assert [p.audience for p in plans(second)] == [AudienceRule.REMOVED]


# --- the rules document --------------------------------------------------------------------


def test_the_default_document() -> None:
    assert AutomationRules().as_json() == {
        "acknowledge": {
            "enabled": True,
            "on": ["confirmed"],
            "blink_hold_s": 300,
            "skip_recent_callers_s": 1800,
        },
        "etr_update": {
            "enabled": True,
            "min_change_s": 1800,
            "per_customer_gap_s": 3600,
            "max_per_outage": 3,
        },
        "all_clear": {"enabled": True},
        "pacing": {trigger.value: {"cps": 20.0, "max_concurrent": 200} for trigger in Trigger},
        "window": "08:00-21:00",
        "planned": {
            "notice_before_s": 259200,
            "long_work_s": 3600,
            "long_work_notice_s": 172800,
            "reminder_before_s": 86400,
            "starting_now": False,
            "all_clear": True,
        },
        "survey": {
            "enabled": True,
            "delay_s": 7200,
            "sample_share": 0.2,
            "per_customer_gap_s": 2592000,
        },
    }


def test_planned_and_survey_sections_merge_and_read_back_with_dotted_errors() -> None:
    rules = merge_rules(
        AutomationRules(),
        {"planned": {"reminder_before_s": 0, "starting_now": True}, "survey": {"sample_share": 1}},
    )
    doc = rules.as_json()
    assert doc["planned"]["reminder_before_s"] == 0 and doc["planned"]["starting_now"] is True
    assert doc["planned"]["notice_before_s"] == 259200  # untouched
    assert doc["survey"]["sample_share"] == 1.0 and doc["survey"]["delay_s"] == 7200
    assert rules_from_json(doc) == rules
    for body, path in (
        ({"planned": {"notice_s": 1}}, "planned.notice_s"),
        ({"planned": {"starting_now": "yes"}}, "planned.starting_now"),
        ({"survey": {"sample_share": 2}}, "survey.sample_share"),
        ({"survey": []}, "survey"),
    ):
        with pytest.raises(InvalidField) as raised:
            merge_rules(AutomationRules(), body)
        assert raised.value.field == path


def test_a_partial_document_changes_only_what_it_names() -> None:
    rules = merge_rules(
        AutomationRules(),
        {
            "acknowledge": {"on": ["crew_on_site", "confirmed", "confirmed"], "blink_hold_s": 0},
            "etr_update": {"max_per_outage": 5},
            "pacing": {"restored": {"cps": 50}},
            "window": "07:30-22:00",
        },
    )
    doc = rules.as_json()
    assert doc["acknowledge"] == {
        "enabled": True,
        "on": ["confirmed", "crew_on_site"],
        "blink_hold_s": 0,
        "skip_recent_callers_s": 1800,
    }
    assert doc["etr_update"]["max_per_outage"] == 5 and doc["etr_update"]["min_change_s"] == 1800
    assert doc["pacing"]["restored"] == {"cps": 50.0, "max_concurrent": 200}
    assert doc["pacing"]["confirmed"] == {"cps": 20.0, "max_concurrent": 200}
    assert doc["window"] == "07:30-22:00"
    assert merge_rules(rules, {}) == rules
    assert merge_rules(rules, {"window": "08:00-21:00"}).window is None


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ([], "body"),
        (None, "body"),
        ({"nope": 1}, "nope"),
        ({"holidays": {}}, "holidays"),
        ({"acknowledge": 3}, "acknowledge"),
        ({"acknowledge": None}, "acknowledge"),
        ({"acknowledge": {"hold_s": 1}}, "acknowledge.hold_s"),
        ({"acknowledge": {"enabled": 1}}, "acknowledge.enabled"),
        ({"acknowledge": {"enabled": "true"}}, "acknowledge.enabled"),
        ({"acknowledge": {"on": []}}, "acknowledge.on"),
        ({"acknowledge": {"on": "confirmed"}}, "acknowledge.on"),
        ({"acknowledge": {"on": ["confirmed", "reported"]}}, "acknowledge.on[1]"),
        ({"acknowledge": {"on": ["restored"]}}, "acknowledge.on[0]"),
        ({"acknowledge": {"blink_hold_s": -1}}, "acknowledge.blink_hold_s"),
        ({"acknowledge": {"blink_hold_s": 7 * 86400 + 1}}, "acknowledge.blink_hold_s"),
        ({"acknowledge": {"blink_hold_s": 1.5}}, "acknowledge.blink_hold_s"),
        ({"acknowledge": {"blink_hold_s": True}}, "acknowledge.blink_hold_s"),
        ({"acknowledge": {"skip_recent_callers_s": "60"}}, "acknowledge.skip_recent_callers_s"),
        ({"etr_update": {"min_change_s": 2 * 86400 + 1}}, "etr_update.min_change_s"),
        ({"etr_update": {"per_customer_gap_s": -5}}, "etr_update.per_customer_gap_s"),
        ({"etr_update": {"max_per_outage": 21}}, "etr_update.max_per_outage"),
        ({"etr_update": {"max_per_outage": False}}, "etr_update.max_per_outage"),
        ({"etr_update": {"churn": 1}}, "etr_update.churn"),
        ({"all_clear": {"enabled": 0}}, "all_clear.enabled"),
        ({"all_clear": {"still_out": True}}, "all_clear.still_out"),
        ({"pacing": []}, "pacing"),
        ({"pacing": {"tornado_watch": {"cps": 1}}}, "pacing.tornado_watch"),
        ({"pacing": {"confirmed": 5}}, "pacing.confirmed"),
        ({"pacing": {"confirmed": {"rate": 1}}}, "pacing.confirmed.rate"),
        ({"pacing": {"confirmed": {"cps": 0}}}, "pacing.confirmed.cps"),
        ({"pacing": {"confirmed": {"cps": 10**400}}}, "pacing.confirmed.cps"),
        ({"pacing": {"confirmed": {"cps": "5"}}}, "pacing.confirmed.cps"),
        ({"pacing": {"confirmed": {"cps": float("nan")}}}, "pacing.confirmed.cps"),
        ({"pacing": {"etr_changed": {"max_concurrent": 0}}}, "pacing.etr_changed.max_concurrent"),
        ({"pacing": {"restored": {"max_concurrent": 2.5}}}, "pacing.restored.max_concurrent"),
        ({"window": "25:00-26:00"}, "window"),
        ({"window": 8}, "window"),
    ],
)
def test_a_bad_document_names_the_field(patch: object, path: str) -> None:
    with pytest.raises(InvalidField) as caught:
        merge_rules(AutomationRules(), patch)
    assert caught.value.field == path
    assert caught.value.message


def test_unknown_fields_say_so() -> None:
    with pytest.raises(InvalidField) as caught:
        merge_rules(AutomationRules(), {"etr_update": {"min_change": 60}})
    assert (caught.value.field, caught.value.message) == ("etr_update.min_change", "unknown field")


def test_out_of_range_says_the_range() -> None:
    with pytest.raises(InvalidField) as caught:
        merge_rules(AutomationRules(), {"etr_update": {"max_per_outage": 99}})
    assert "0 to 20" in caught.value.message
    with pytest.raises(InvalidField) as caught:
        merge_rules(AutomationRules(), {"pacing": {"confirmed": {"cps": 5000}}})
    assert "1000" in caught.value.message


def test_stored_rules_read_tolerantly() -> None:
    assert rules_from_json(None) == AutomationRules()
    assert rules_from_json({}) == AutomationRules()
    # An older document lacking fields, a newer one with sections this server does not know.
    rules = rules_from_json(
        {
            "acknowledge": {"blink_hold_s": 0},
            "holidays": {"notice_before_s": 259200},
            "pacing": {"restored": {"cps": 7.5}, "tornado_watch": {"cps": 1}},
        }
    )
    assert rules.acknowledge == AcknowledgeRule(blink_hold_s=0)
    assert rules.etr_update == EtrUpdateRule()
    assert dict(rules.pacing) == {Trigger.RESTORED: EventPacing(cps=7.5, max_concurrent=200)}
    assert rules.window is None


# --- round trips -----------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
keys = st.lists(st.text("PF0123456789", min_size=1, max_size=4), unique=True, max_size=4).map(
    lambda values: tuple(sorted(values))
)
seconds = st.integers(min_value=0, max_value=7 * 86400)


@st.composite
def rules_strategy(
    draw: st.DrawFn, holds: st.SearchStrategy[int] = seconds, gaps: st.SearchStrategy[int] = seconds
) -> AutomationRules:
    on = draw(st.sets(st.sampled_from(ACK_STATUSES), min_size=1))
    pacing = draw(
        st.dictionaries(
            st.sampled_from(list(Trigger)),
            st.builds(
                EventPacing,
                cps=st.floats(min_value=0.01, max_value=1000),
                max_concurrent=st.integers(min_value=1, max_value=10_000),
            ).filter(lambda pace: pace != DEFAULT_PACING),
        )
    )
    window = draw(
        st.none()
        | st.builds(
            DailyWindow,
            opens=st.times().map(lambda t: time(t.hour, t.minute)),
            closes=st.times().map(lambda t: time(t.hour, t.minute)),
        ).filter(lambda w: w.describe() != "08:00-21:00")
    )
    return AutomationRules(
        acknowledge=AcknowledgeRule(
            enabled=draw(st.booleans()),
            on=tuple(s for s in ACK_STATUSES if s in on),
            blink_hold_s=draw(holds),
            skip_recent_callers_s=draw(seconds),
        ),
        etr_update=EtrUpdateRule(
            enabled=draw(st.booleans()),
            min_change_s=draw(st.integers(min_value=0, max_value=2 * 86400)),
            per_customer_gap_s=draw(gaps),
            max_per_outage=draw(st.integers(min_value=0, max_value=20)),
        ),
        all_clear=AllClearRule(enabled=draw(st.booleans())),
        pacing=pacing,
        window=window,
    )


@settings(max_examples=60, deadline=None)
@given(rules_strategy())
def test_rules_round_trip_and_the_document_read_is_accepted_written(
    rules: AutomationRules,
) -> None:
    assert rules_from_json(rules.as_json()) == rules
    # What GET answers, PUT accepts, and it changes nothing.
    assert merge_rules(AutomationRules(), rules.as_json()) == rules


@settings(max_examples=100, deadline=None)
@given(
    st.builds(
        OutageChange,
        created=st.booleans(),
        status_before=st.none() | st.sampled_from(OutageStatus),
        status=st.sampled_from(OutageStatus),
        etr_before=st.none() | moments,
        etr=st.none() | moments,
        cause_changed=st.booleans(),
        planned=st.booleans(),
        premises_added=keys,
        premises_removed=keys,
        feeders_added=keys,
        feeders_removed=keys,
    )
)
def test_a_change_round_trips(change: OutageChange) -> None:
    assert OutageChange.from_json(change.as_json()) == change


@settings(max_examples=150, deadline=None)
@given(
    st.builds(
        AutomationState,
        ack_due_at=st.none() | moments,
        ack_event_id=st.none() | st.integers(min_value=1, max_value=2**62),
        ack_trigger=st.none() | st.sampled_from(Trigger),
        acknowledged=st.booleans(),
        announced_etr=st.none() | moments,
        etr_told=st.booleans(),
        etr_updates=st.integers(min_value=0, max_value=50),
        last_etr_update_at=st.none() | moments,
        etr_due_at=st.none() | moments,
        etr_event_id=st.none() | st.integers(min_value=1, max_value=2**62),
        etr_cleared_since_announced=st.booleans(),
        closed=st.booleans(),
    )
)
def test_a_state_round_trips(state: AutomationState) -> None:
    assert AutomationState.from_json(state.as_json()) == state


def test_an_empty_state_is_the_initial_one() -> None:
    assert AutomationState.from_json(None) == AutomationState()
    assert AutomationState.from_json({}) == AutomationState()


def test_a_state_stored_before_newer_fields_reads_with_their_defaults() -> None:
    stored = {  # as written before the ETR-cleared flag was kept
        "ack_due_at": None,
        "ack_event_id": None,
        "ack_trigger": None,
        "acknowledged": True,
        "announced_etr": "2026-11-23T22:00:00+00:00",
        "etr_told": True,
        "etr_updates": 1,
        "last_etr_update_at": "2026-11-23T18:00:00+00:00",
        "etr_due_at": None,
        "etr_event_id": None,
        "closed": False,
    }
    state = AutomationState.from_json(stored)
    assert state == AutomationState(
        acknowledged=True,
        announced_etr=ETR,
        etr_told=True,
        etr_updates=1,
        last_etr_update_at=NOW,
    )
    assert not state.etr_cleared_since_announced


def test_datetimes_are_written_in_utc() -> None:
    chicago_etr = datetime.fromisoformat("2026-11-23T16:30:00-06:00")
    doc = etr_move(None, chicago_etr).as_json()
    assert doc["etr"] == "2026-11-23T22:30:00+00:00"
    assert AutomationState(announced_etr=chicago_etr).as_json()["announced_etr"] == doc["etr"]


# --- outage_change ---------------------------------------------------------------------------


def outage(**fields: Any) -> OutageState:
    base: dict[str, Any] = {
        "status": C.CONFIRMED,
        "cause": None,
        "etr": None,
        "premise_ids": ("P1", "P2"),
        "feeder_ids": (),
        "planned": False,
        "starts_at": None,
        "ends_at": None,
    }
    return OutageState(**{**base, **fields})


def test_a_new_outage_is_created_with_everything_added() -> None:
    state = outage(feeder_ids=("F1",), etr=ETR, cause="storm")
    for previous in (None, {}):
        change = outage_change(previous, state)
        assert change.created and change.status_before is None
        assert change.premises_added == ("P1", "P2") and change.feeders_added == ("F1",)
        assert change.etr_before is None and change.etr == ETR
        assert change.cause_changed and not change.grew


def test_a_write_is_diffed_against_the_stored_state() -> None:
    before = outage(premise_ids=("P1", "P3"), feeder_ids=("F1",), etr=ETR, cause="storm")
    after = outage(
        status=C.CREW_DISPATCHED,
        premise_ids=("P4", "P1", "P2"),
        etr=ETR + timedelta(hours=1),
        cause="storm",
    )
    change = outage_change(before.canonical(), after)
    assert not change.created
    assert (change.status_before, change.status) == (C.CONFIRMED, C.CREW_DISPATCHED)
    assert (change.etr_before, change.etr) == (ETR, ETR + timedelta(hours=1))
    assert change.premises_added == ("P2", "P4") and change.premises_removed == ("P3",)
    assert change.feeders_added == () and change.feeders_removed == ("F1",)
    assert not change.cause_changed
    assert change.grew and change.shrank
    assert outage_change(before.canonical(), replace(before, cause="tree")).cause_changed


# --- the rules over any sequence of writes ---------------------------------------------------

PAIRED = (
    (PlanCampaign, Verdict.PLANNED),
    (AppendTargets, Verdict.APPENDED),
    (Withdraw, Verdict.WITHDRAWN),
)

# Mostly active, as outages are; now and then restored or cancelled (and reopened).
statuses = st.sampled_from([*C, C.CONFIRMED, C.CREW_DISPATCHED, C.CREW_ON_SITE] * 2)
writes = st.builds(
    outage,
    status=statuses,
    etr=st.none()
    | st.integers(min_value=0, max_value=12).map(lambda n: ETR + n * timedelta(minutes=20)),
    premise_ids=keys,
    feeder_ids=keys,
    planned=st.sampled_from([False, False, False, True]),
    cause=st.sampled_from([None, "storm", "tree"]),
)
moves = st.tuples(
    st.sampled_from(["write", "write", "due"]),
    writes,
    st.integers(min_value=0, max_value=90),  # minutes on
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules_strategy(
        holds=st.sampled_from([0, 0, 300, 1800]), gaps=st.sampled_from([0, 600, 3600, 7200])
    ),
    st.lists(moves, min_size=1, max_size=25),
)
def test_any_sequence_never_raises_nor_plans_a_campaign_twice(
    rules: AutomationRules, sequence: list[tuple[str, OutageState, int]]
) -> None:
    state = AutomationState()
    previous: OutageState | None = None
    now = NOW
    event_id = 0
    planned: set[tuple[Trigger, int]] = set()
    for kind, written, minutes in sequence:
        now += timedelta(minutes=minutes)
        if kind == "write" or previous is None:
            event_id += 1
            change = outage_change(None if previous is None else previous.canonical(), written)
            outcome = on_change(state, change, event_id=event_id, rules=rules, now=now)
            previous = written
        else:
            now = max(now, state.due_at() or now)
            outcome = on_due(
                state,
                OutageFacts(status=previous.status, etr=previous.etr, planned=previous.planned),
                rules=rules,
                now=now,
            )
            still_due = outcome.state.due_at()
            assert still_due is None or still_due > now  # what fell due was dealt with
        for action in outcome.actions:
            if isinstance(action, PlanCampaign):
                key = (action.trigger, action.event_id)
                assert key not in planned
                assert action.event_id <= event_id
                planned.add(key)
            assert all(d.reason for d in outcome.decisions)
        # The worker pairs each action with the decision of its kind, in order.
        for action_type, verdict in PAIRED:
            acts = sum(isinstance(a, action_type) for a in outcome.actions)
            assert acts == sum(d.verdict is verdict for d in outcome.decisions)
        state = outcome.state
        if state.closed:
            assert state.due_at() is None
        assert AutomationState.from_json(state.as_json()) == state
