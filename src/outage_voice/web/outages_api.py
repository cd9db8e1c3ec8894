"""The OMS feed: `/api/v1/outages` and `/api/v1/outage-reports`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from outage_voice.domain.auth import Role
from outage_voice.domain.outages import (
    OutageRecord,
    OutageReport,
    check_outage_id,
    parse_outage_state,
    parse_rfc3339,
)
from outage_voice.web.auth import ANY_ROLE, require_role
from outage_voice.web.jsonio import json_response, query_bool, query_int, read_json
from outage_voice.web.keys import CLOCK, OUTAGES

routes = web.RouteTableDef()
OMS_ONLY = frozenset({Role.OMS})


def _outage_json(record: OutageRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "outage_id": record.outage_id,
        "status": record.status.value,
        "active": record.status.is_active,
        "cause": record.cause,
        "crew_status": record.crew_status.value,
        "etr": record.etr,
        "planned": record.planned,
        "starts_at": record.starts_at,
        "ends_at": record.ends_at,
        "alternate_starts_at": record.alternate_starts_at,
        "premise_ids": list(record.premise_ids),
        "feeder_ids": list(record.feeder_ids),
        "customers_affected": record.customers_affected,
        "customers_affected_source": (
            None
            if record.customers_affected is None
            else "oms"
            if record.customers_from_oms
            else "customer_file"
        ),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "restored_at": record.restored_at,
    }
    if record.affected_premises is not None:
        body["affected_premises"] = record.affected_premises
    if record.history_entries is not None:
        body["history_entries"] = record.history_entries
    return body


def _report_json(report: OutageReport) -> dict[str, Any]:
    return {
        "report_id": report.report_id,
        "kind": report.kind,
        "premise_id": report.premise_id,
        "account_number": report.account_number,
        "outage_id": report.outage_id,
        "phone": report.phone,
        "call_sid": report.call_sid,
        "source": report.source,
        "details": _report_details(report),
        "created_at": report.created_at,
    }


def _report_details(report: OutageReport) -> dict[str, int]:
    """The campaign call a report came from, as it has always been shown."""
    details: dict[str, int] = {}
    if report.attempt_id is not None:
        details["attempt_id"] = report.attempt_id
    if report.campaign_id is not None:
        details["campaign_id"] = report.campaign_id
    return details


@routes.put("/api/v1/outages/{outage_id}")
async def put_outage(request: web.Request) -> web.Response:
    principal = await require_role(request, OMS_ONLY)
    outage_id = request.match_info["outage_id"]
    body = await read_json(request)
    # A bad id is named before a bad body.
    check_outage_id(outage_id)
    state = parse_outage_state(body, now=request.app[CLOCK].now())
    service = request.app[OUTAGES]
    write = await service.put(outage_id, state, actor=principal.actor)
    record = await service.get(outage_id)
    payload = _outage_json(record) | {"changed": write.changed}
    return json_response(payload, status=201 if write.created else 200)


@routes.get("/api/v1/outages/{outage_id}")
async def get_outage(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    record = await request.app[OUTAGES].get(request.match_info["outage_id"])
    return json_response(_outage_json(record))


@routes.get("/api/v1/outages")
async def list_outages(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    records = await request.app[OUTAGES].list_outages(
        active=query_bool(request, "active"), limit=query_int(request, "limit")
    )
    return json_response({"outages": [_outage_json(record) for record in records]})


@routes.get("/api/v1/outage-reports")
async def list_reports(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    raw_since = request.query.get("since")
    since = None if raw_since is None else parse_rfc3339("since", raw_since)
    after_id = query_int(request, "after_id", minimum=0)
    reports = await request.app[OUTAGES].reports_since(
        since, after_id=after_id, limit=query_int(request, "limit")
    )
    body: dict[str, Any] = {"reports": [_report_json(report) for report in reports]}
    # Resuming from the last id never skips reports that share a timestamp.
    body["next_after_id"] = reports[-1].report_id if reports else after_id or 0
    return json_response(body)
