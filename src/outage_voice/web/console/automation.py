"""The console's automation page (`/dashboard/automation`): the rules in force beside their
defaults, editable by supervisors through `PUT /api/v1/automation` (the API's 422 shown next
to the field it names); what was sent for an outage (the ledger); the preview of a change.

The form is built from the rules document itself, so a rule added to the API appears here
with its default without a change to this page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from outage_voice.domain.automation import ACK_STATUSES, AutomationRules, Trigger
from outage_voice.domain.outages import OutageStatus
from outage_voice.domain.rule_fields import span
from outage_voice.web.auth import require_page
from outage_voice.web.console.render import render
from outage_voice.web.keys import AUTOMATION

routes = web.RouteTableDef()

# Each section of the rules document: its heading and what it is for.
SECTIONS: Mapping[str, tuple[str, str]] = {
    "acknowledge": (
        "Acknowledgement",
        "Calls telling customers we know of their outage, once it is confirmed.",
    ),
    "etr_update": ("Restoration time updates", "Calls when the estimated restoration moves."),
    "all_clear": ("All-clear", "Calls telling customers their power is back."),
    "window": ("Calling window", "When automatic campaigns may call, in each customer's time."),
    "pacing": ("Pacing", "Calls per second and calls at once, per event."),
    "planned": ("Planned work", "Notices, reminders and the all-clear for planned work."),
    "survey": ("Survey after an outage", "A short survey of a sample of those affected."),
}
LABELS: Mapping[str, str] = {
    "acknowledge.enabled": "Acknowledge outages",
    "acknowledge.on": "Start at these statuses",
    "acknowledge.blink_hold_s": "Wait before calling (blink hold), seconds",
    "acknowledge.skip_recent_callers_s": "Skip numbers that called within, seconds",
    "etr_update.enabled": "Call when the restoration time moves",
    "etr_update.min_change_s": "Smallest change worth a call, seconds",
    "etr_update.per_customer_gap_s": "At most one call per customer every, seconds",
    "etr_update.max_per_outage": "Update campaigns per outage, at most",
    "all_clear.enabled": "Call when power is restored",
    "window": "Calling window (HH:MM-HH:MM, or 24h)",
    "planned.notice_before_s": "Notice before the work, seconds",
    "planned.long_work_s": "Work counts as long past, seconds",
    "planned.long_work_notice_s": "Least notice for long work, seconds",
    "planned.reminder_before_s": "Reminder before the work, seconds (0: none)",
    "planned.starting_now": "Call when the work starts",
    "planned.all_clear": "All-clear when the work ends",
    "survey.enabled": "Survey after outages",
    "survey.delay_s": "Survey after restoration, seconds",
    "survey.sample_share": "Share of customers surveyed (0 to 1)",
    "survey.per_customer_gap_s": "Survey a customer at most every, seconds",
    "cps": "Calls per second",
    "max_concurrent": "Calls at once",
}
PREVIEW_STATUSES = tuple(status.value for status in OutageStatus)


@dataclass(frozen=True, kw_only=True, slots=True)
class RuleField:
    path: str  # the API's dotted name, as a 422 names it
    label: str
    kind: str  # bool | int | number | text | choices
    value: Any
    default: Any
    choices: Sequence[str] = ()

    @property
    def id(self) -> str:
        return "rule-" + self.path.replace(".", "-")

    @property
    def changed(self) -> bool:
        return bool(self.value != self.default)

    @property
    def default_text(self) -> str:
        if self.kind == "bool":
            return "on" if self.default else "off"
        if self.kind == "choices":
            return ", ".join(str(item).replace("_", " ") for item in self.default)
        if self.path.endswith("_s") and isinstance(self.default, int) and self.default:
            return f"{self.default} ({span(self.default)})"
        return str(self.default)


@dataclass(frozen=True, kw_only=True, slots=True)
class RuleSection:
    key: str
    title: str
    about: str
    fields: Sequence[RuleField]
    # Pacing: one row per trigger, its fields in columns.
    rows: Sequence[tuple[str, Sequence[RuleField]]] = ()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "choices"
    return "text"


def _field(path: str, name: str, value: Any, default: Any) -> RuleField:
    kind = _kind(default if default is not None else value)
    choices = tuple(status.value for status in ACK_STATUSES) if kind == "choices" else ()
    label = LABELS.get(path) or LABELS.get(name) or name.replace("_", " ").capitalize()
    return RuleField(
        path=path, label=label, kind=kind, value=value, default=default, choices=choices
    )


def rule_sections(current: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[RuleSection]:
    """The rules document as the page's sections, each value beside its default."""
    sections = []
    for key, value in current.items():
        title, about = SECTIONS.get(key, (key.replace("_", " ").capitalize(), ""))
        default = defaults.get(key)
        if key == "pacing" and isinstance(value, Mapping):
            rows = []
            for trigger, pace in value.items():
                default_pace = (default or {}).get(trigger, {})
                rows.append(
                    (
                        trigger,
                        [
                            _field(f"pacing.{trigger}.{name}", name, v, default_pace.get(name))
                            for name, v in pace.items()
                        ],
                    )
                )
            sections.append(RuleSection(key=key, title=title, about=about, fields=(), rows=rows))
        elif isinstance(value, Mapping):
            fields = [
                _field(f"{key}.{name}", name, v, (default or {}).get(name))
                for name, v in value.items()
            ]
            sections.append(RuleSection(key=key, title=title, about=about, fields=fields))
        else:
            sections.append(
                RuleSection(
                    key=key, title=title, about=about, fields=[_field(key, key, value, default)]
                )
            )
    return sections


@routes.get("/dashboard/automation")
async def automation_page(request: web.Request) -> web.StreamResponse:
    session = await require_page(request)
    rules = await request.app[AUTOMATION].rules()
    return render(
        request,
        "automation.html",
        session,
        {
            "nav": "automation",
            "sections": rule_sections(rules.as_json(), AutomationRules().as_json()),
            "outage": request.query.get("outage", "")[:200],
            "statuses": PREVIEW_STATUSES,
            "triggers": [trigger.value for trigger in Trigger],
        },
    )
