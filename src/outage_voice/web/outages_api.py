"""The OMS feed: `/api/v1/outages` and `/api/v1/outage-reports`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from outage_voice.domain.auth import Role
from outage_voice.domain.errors import InvalidField
from outage_voice.domain.outages import parse_rfc3339
from outage_voice.services.ports import OutageRecord, OutageReport
from outage_voice.web.auth import ANY_ROLE, require_role
from outage_voice.web.jsonio import json_response
from outage_voice.web.keys import OUTAGES

routes = web.RouteTableDef()
OMS_ONLY = frozenset({Role.OMS})


def _outage_json(record: OutageRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "outage_id": record.outage_id,
        "status": record.status,
        "active": record.status not in ("restored", "cancelled"),
        "cause": record.cause,
        "crew_status": record.crew_status,
        "etr": record.etr,
        "planned": record.planned,
        "starts_at": record.starts_at,
        "ends_at": record.ends_at,
        "premise_ids": list(record.premise_ids),
        "feeder_ids": list(record.feeder_ids),
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
        "details": report.details,
        "created_at": report.created_at,
    }


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidField(name, "must be an integer") from None


def _bool_param(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidField(name, "must be true or false")


async def _json_body(request: web.Request) -> object:
    raw = await request.read()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidField("body", f"is not valid JSON ({exc})") from None


@routes.put("/api/v1/outages/{outage_id}")
async def put_outage(request: web.Request) -> web.Response:
    principal = await require_role(request, OMS_ONLY)
    outage_id = request.match_info["outage_id"]
    body = await _json_body(request)
    service = request.app[OUTAGES]
    write = await service.put(outage_id, body, actor=principal.actor)
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
        active=_bool_param(request, "active"), limit=_int_param(request, "limit")
    )
    return json_response({"outages": [_outage_json(record) for record in records]})


@routes.get("/api/v1/outage-reports")
async def list_reports(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    raw_since = request.query.get("since")
    since = None if raw_since is None else parse_rfc3339("since", raw_since)
    reports = await request.app[OUTAGES].reports_since(
        since, after_id=_int_param(request, "after_id"), limit=_int_param(request, "limit")
    )
    body: dict[str, Any] = {"reports": [_report_json(report) for report in reports]}
    # Resuming from the last id never skips reports that share a timestamp.
    body["next_after_id"] = (
        reports[-1].report_id if reports else _int_param(request, "after_id") or 0
    )
    return json_response(body)
