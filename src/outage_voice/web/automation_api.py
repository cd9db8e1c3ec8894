"""The outage automation for supervisors and the OMS: its rules (`/api/v1/automation`), what
an outage change would send (`/api/v1/automation/preview`), and what an outage's customers
were sent (`/api/v1/outages/{id}/notifications`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from outage_voice.domain.auth import Role
from outage_voice.domain.automation import Decision
from outage_voice.domain.errors import InvalidField
from outage_voice.domain.outages import (
    MAX_ID_CHARS,
    OutageState,
    check_outage_id,
    parse_outage_state,
)
from outage_voice.services.automation import Preview, PreviewMessage
from outage_voice.services.automation_ports import Ledger, LedgerCounts, LedgerDecision, LedgerLine
from outage_voice.web.auth import ANY_ROLE, require_role
from outage_voice.web.campaign_json import reject_unknown
from outage_voice.web.jsonio import json_response, read_json
from outage_voice.web.keys import AUTOMATION, CLOCK

routes = web.RouteTableDef()
SUPERVISOR = frozenset({Role.SUPERVISOR})
# The OMS asks before it writes a change; a supervisor asks what a change would do.
PREVIEWERS = frozenset({Role.SUPERVISOR, Role.OMS})
PREVIEW_FIELDS = frozenset({"outage_id", "state"})


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "event": decision.event,
        "verdict": decision.verdict.value,
        "reason": decision.reason,
    }


def _message_json(message: PreviewMessage) -> dict[str, Any]:
    return {
        "trigger": message.trigger,
        "kind": message.kind,
        "campaign": message.campaign,
        "sends_at": message.sends_at,
        "calls": message.calls,
        "skipped": dict(message.skipped),
        "estimated_duration_s": message.estimated_duration_s,
    }


def preview_json(preview: Preview) -> dict[str, Any]:
    return {
        "outage_id": preview.outage_id,
        "change": preview.change.as_json(),
        "messages": [_message_json(message) for message in preview.messages],
        "withdrawn": dict(preview.withdrawn),
        "decisions": [decision_json(decision) for decision in preview.decisions],
    }


def _counts_json(counts: LedgerCounts) -> dict[str, Any]:
    return {
        "sent": counts.sent,
        "reached": counts.reached,
        "pending": counts.pending,
        "skipped": dict(counts.skipped),
    }


def _ledger_decision_json(entry: LedgerDecision) -> dict[str, Any]:
    return {
        "at": entry.at,
        **decision_json(entry.decision),
        "campaign_id": entry.campaign_id,
        "event_id": entry.event_id,
    }


def _line_json(line: LedgerLine) -> dict[str, Any]:
    # The whole number, as the outage-reports feed gives it: whoever asks named the account,
    # and needs to know which of its numbers was called.
    return {
        "trigger": line.trigger,
        "campaign_id": line.campaign_id,
        "phone": line.phone,
        "account_numbers": list(line.account_numbers),
        "state": line.state,
        "outcome": line.outcome,
        "attempts": line.attempts,
        "last_call_at": line.last_call_at,
        "heard_at": line.heard_at,
        "heard_etr": line.heard_etr,
    }


def ledger_json(ledger: Ledger, *, account: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "outage_id": ledger.outage_id,
        "counts": {trigger: _counts_json(counts) for trigger, counts in ledger.counts.items()},
        "pending": sum(counts.pending for counts in ledger.counts.values()),
        "campaigns": list(ledger.campaigns),
        "decisions": [_ledger_decision_json(entry) for entry in ledger.decisions],
    }
    if account is not None:
        body["account"] = account
        body["lines"] = [_line_json(line) for line in ledger.lines]
    return body


def parse_preview(body: object, *, now: datetime) -> tuple[str, OutageState]:
    """`{"outage_id": ..., "state": <the PUT /api/v1/outages body>}`, checked; a problem in
    the state names its field under `state.`."""
    if not isinstance(body, Mapping):
        raise InvalidField("body", "must be a JSON object")
    reject_unknown(body, PREVIEW_FIELDS)
    outage_id = body.get("outage_id")
    if not isinstance(outage_id, str):
        raise InvalidField("outage_id", "is required: the OMS's id of the outage")
    check_outage_id(outage_id)
    if "state" not in body:
        raise InvalidField("state", "is required: the outage as PUT /api/v1/outages/{id} takes it")
    try:
        state = parse_outage_state(body["state"], now=now)
    except InvalidField as exc:
        field = "state" if exc.field == "body" else f"state.{exc.field}"
        raise InvalidField(field, exc.message) from None
    return outage_id, state


def _account(request: web.Request) -> str | None:
    raw = request.query.get("account")
    if raw is None:
        return None
    account = raw.strip()
    if not account or len(account) > MAX_ID_CHARS:
        raise InvalidField(
            "account", f"must be an account number of 1 to {MAX_ID_CHARS} characters"
        )
    return account


@routes.get("/api/v1/automation")
async def show_rules(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    return json_response((await request.app[AUTOMATION].rules()).as_json())


@routes.put("/api/v1/automation")
async def change_rules(request: web.Request) -> web.Response:
    principal = await require_role(request, SUPERVISOR)
    body = await read_json(request)
    if not isinstance(body, Mapping):
        raise InvalidField("body", "must be a JSON object (the fields to change)")
    rules = await request.app[AUTOMATION].update_rules(body, actor=principal.actor)
    return json_response(rules.as_json())


@routes.post("/api/v1/automation/preview")
async def preview(request: web.Request) -> web.Response:
    await require_role(request, PREVIEWERS)
    outage_id, state = parse_preview(await read_json(request), now=request.app[CLOCK].now())
    return json_response(preview_json(await request.app[AUTOMATION].preview(outage_id, state)))


@routes.get("/api/v1/outages/{outage_id}/notifications")
async def notifications(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    account = _account(request)
    ledger = await request.app[AUTOMATION].notifications(
        request.match_info["outage_id"], account=account
    )
    return json_response(ledger_json(ledger, account=account))
