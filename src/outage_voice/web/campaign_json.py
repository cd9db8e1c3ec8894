"""Campaign request bodies: JSON read into a checked `CampaignSpec` or `PacingChange`.

Here the shape and types are checked (what an object, a list or a number must be, and which
fields exist); the rules on the values are the domain's, the same for the shell's options.
Each field's value is checked right after its type, so that of several errors the first
field named is the one it always was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outage_voice.domain.campaigns import (
    DEFAULT_RETRY,
    MAX_CUSTOM_TEXT,
    NAME_A_PACING_FIELD,
    Audience,
    CampaignKind,
    CampaignSpec,
    PacingChange,
    Retryable,
    RetryRule,
    campaign_message,
    check_audience,
    check_cps,
    check_keys,
    check_max_concurrent,
    check_name,
    check_outage_id,
    check_priority,
    check_retry_rule,
    check_voicemail,
    new_campaign_spec,
    pacing_change,
    parse_window,
)
from outage_voice.domain.errors import InvalidField
from outage_voice.domain.outages import parse_rfc3339

# What a campaign body may name, level by level: a misspelt key (`callback_request`) must
# be refused, never read as "not given", which could widen a campaign to everyone.
SPEC_FIELDS = frozenset(
    {
        "name",
        "kind",
        "audience",
        "message",
        "pacing",
        "window",
        "urgent",
        "retry",
        "voicemail",
        "priority",
        "starts_at",
        "force",
    }
)
AUDIENCE_FIELDS = frozenset({"outage_id", "callback_requests", "accounts", "premises", "feeders"})
MESSAGE_FIELDS = frozenset({"text"})
PACING_FIELDS = frozenset({"cps", "max_concurrent"})
RETRY_RULE_FIELDS = frozenset({"max_attempts", "delay_s"})
PACE_FIELDS = frozenset({"cps", "max_concurrent", "window", "priority"})
WINDOW_SHAPE = 'must be a string like "08:00-21:00"'
PRIORITY_SHAPE = "must be a whole number from -100 to 100"
SURVEY_ELSEWHERE = (
    'a survey is sent with POST /api/v1/surveys/send {"outage_id": ...} '
    "(outage-voice survey send OUTAGE_ID)"
)


def reject_unknown(value: Mapping[str, Any], known: frozenset[str], prefix: str = "") -> None:
    """The first key not in `known` (in sorted order) is a 422 naming its dotted path."""
    unknown = sorted(set(value) - known)
    if unknown:
        raise InvalidField(
            f"{prefix}{unknown[0]}", f"unknown field (known: {', '.join(sorted(known))})"
        )


def _object(
    body: Mapping[str, Any], name: str, known: frozenset[str] | None = None
) -> Mapping[str, Any]:
    value = body.get(name, {})
    if not isinstance(value, Mapping):
        raise InvalidField(name, "must be an object")
    if known is not None:
        reject_unknown(value, known, f"{name}.")
    return value


def _keys(where: Mapping[str, Any], name: str, field_name: str) -> tuple[str, ...]:
    value = where.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidField(field_name, "must be a list of non-empty strings")
    return check_keys(value, field_name)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pacing(body: Mapping[str, Any]) -> tuple[float | None, int | None]:
    cps = body.get("cps")
    if cps is not None:
        if isinstance(cps, bool) or not isinstance(cps, int | float):
            raise InvalidField("cps", "must be a number")
        check_cps(cps)
    concurrent = body.get("max_concurrent")
    if concurrent is not None:
        if not _whole(concurrent):
            raise InvalidField("max_concurrent", "must be a whole number")
        check_max_concurrent(concurrent)
    return cps, concurrent


def _retry(body: Mapping[str, Any]) -> dict[Retryable, RetryRule]:
    rules: dict[Retryable, RetryRule] = {}
    for name, raw in _object(body, "retry").items():
        try:
            outcome = Retryable(name)
        except ValueError:
            names = ", ".join(r.value for r in Retryable)
            raise InvalidField(f"retry.{name}", f"unknown outcome (one of {names})") from None
        if not isinstance(raw, Mapping):
            raise InvalidField(f"retry.{name}", "must be an object")
        reject_unknown(raw, RETRY_RULE_FIELDS, f"retry.{name}.")
        default = DEFAULT_RETRY[outcome]
        attempts = raw.get("max_attempts", default.max_attempts)
        if not _whole(attempts):
            raise InvalidField(f"retry.{name}.max_attempts", "must be 1 to 10")
        check_retry_rule(outcome, RetryRule(max_attempts=attempts, delay_s=default.delay_s))
        delay = raw.get("delay_s", default.delay_s)
        if not _whole(delay):
            raise InvalidField(f"retry.{name}.delay_s", "must be 0 to 604800 seconds")
        rules[outcome] = check_retry_rule(outcome, RetryRule(max_attempts=attempts, delay_s=delay))
    return rules


def parse_campaign_spec(body: object) -> CampaignSpec:
    """A new campaign's body (POST /api/v1/campaigns), checked."""
    if not isinstance(body, Mapping):
        raise InvalidField("body", "must be a JSON object")
    reject_unknown(body, SPEC_FIELDS)
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise InvalidField("force", "must be true or false")
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidField("name", "must be a non-empty string of at most 200 characters")
    check_name(name)
    try:
        kind = CampaignKind(str(body.get("kind")))
    except ValueError:
        kinds = ", ".join(k.value for k in CampaignKind if k is not CampaignKind.SURVEY)
        raise InvalidField("kind", f"must be one of {kinds}") from None
    if kind is CampaignKind.SURVEY:
        # Its audience, sample and questions are the survey's own: sent from there.
        raise InvalidField("kind", SURVEY_ELSEWHERE)
    where = _object(body, "audience", AUDIENCE_FIELDS)
    outage_id = where.get("outage_id")
    if outage_id is not None and not isinstance(outage_id, str):
        raise InvalidField("audience.outage_id", "must be a non-empty string")
    check_outage_id(outage_id)
    callbacks = where.get("callback_requests", False)
    if not isinstance(callbacks, bool):
        raise InvalidField("audience.callback_requests", "must be true or false")
    audience = Audience(
        outage_id=outage_id,
        callback_requests=callbacks,
        accounts=_keys(where, "accounts", "audience.accounts"),
        premises=_keys(where, "premises", "audience.premises"),
        feeders=_keys(where, "feeders", "audience.feeders"),
    )
    check_audience(audience, kind)
    text = _object(body, "message", MESSAGE_FIELDS).get("text")
    if text is not None and not isinstance(text, str):
        field_name = "message.text"
        if kind is CampaignKind.CUSTOM:
            raise InvalidField(
                field_name, f"a custom campaign needs text of 1 to {MAX_CUSTOM_TEXT} characters"
            )
        raise InvalidField(field_name, f"a {kind.value} campaign speaks its own message")
    campaign_message(kind, text)
    cps, concurrent = _pacing(_object(body, "pacing", PACING_FIELDS))
    window = body.get("window")
    if "window" in body and not isinstance(window, str):
        raise InvalidField("window", WINDOW_SHAPE)
    if window is not None:
        parse_window(window)
    urgent = body.get("urgent", False)
    if not isinstance(urgent, bool):
        raise InvalidField("urgent", "must be true or false")
    voicemail = body.get("voicemail", "message")
    if not isinstance(voicemail, str):
        raise InvalidField("voicemail", 'must be "message" or "hangup"')
    check_voicemail(voicemail)
    priority = body.get("priority", 0)
    if not _whole(priority):
        raise InvalidField("priority", PRIORITY_SHAPE)
    check_priority(priority)
    raw_start = body.get("starts_at")
    starts_at = None if raw_start is None else parse_rfc3339("starts_at", raw_start)
    retry = _retry(body)
    return new_campaign_spec(
        name=name,
        kind=kind,
        outage_id=outage_id,
        callback_requests=callbacks,
        accounts=audience.accounts,
        premises=audience.premises,
        feeders=audience.feeders,
        text=text,
        cps=cps,
        max_concurrent=concurrent,
        **({} if window is None else {"window": window}),
        urgent=urgent,
        retry=retry,
        voicemail=voicemail,
        priority=priority,
        starts_at=starts_at,
    )


# A campaign id is a bigint: more digits than this name no campaign (and overflow one).
MAX_CAMPAIGN_ID_DIGITS = 18


def parse_campaign_id(raw: str) -> int | None:
    """The campaign id in a path or query, None when it cannot name one."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_CAMPAIGN_ID_DIGITS:
        return None
    return int(raw)


def wants_force(body: object) -> bool:
    """A restoration campaign asked for while its outage is not restored (`"force": true`)."""
    return isinstance(body, Mapping) and body.get("force") is True


def parse_pacing_change(body: object) -> PacingChange:
    """A change of pacing (PATCH /api/v1/campaigns/{id}), checked."""
    if not isinstance(body, Mapping):
        raise InvalidField("body", "must be a JSON object")
    unknown = set(body) - PACE_FIELDS
    if unknown:
        raise InvalidField(sorted(unknown)[0], "cannot be changed (cps, max_concurrent, "
                           "window, priority can)")  # fmt: skip
    if not body:
        raise InvalidField("body", NAME_A_PACING_FIELD)
    cps, concurrent = _pacing(body)
    window = body.get("window")
    if "window" in body and not isinstance(window, str):
        raise InvalidField("window", WINDOW_SHAPE)
    if window is not None:
        parse_window(window)
    priority = body.get("priority")
    if priority is not None and not _whole(priority):
        raise InvalidField("priority", PRIORITY_SHAPE)
    return pacing_change(cps=cps, max_concurrent=concurrent, window=window, priority=priority)
