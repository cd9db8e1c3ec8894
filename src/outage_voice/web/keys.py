"""Typed application state."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from aiohttp import web

from outage_voice.adapters.audio_store import FileAudioStore
from outage_voice.adapters.db.dialer import PgDialerStore
from outage_voice.carrier.engine import VirtualCarrier
from outage_voice.config import Settings
from outage_voice.domain.prompts import Catalog
from outage_voice.services.automation import AutomationService
from outage_voice.services.automation_ports import AutomaticCampaignStore, AutomationStore
from outage_voice.services.call_records import CallRecorder
from outage_voice.services.campaign_call import CampaignCallService
from outage_voice.services.campaigns import CampaignService
from outage_voice.services.console_feed import ConsoleFeed
from outage_voice.services.dialer import Dialer
from outage_voice.services.instance_status import InstanceHeartbeat, OutageLineView
from outage_voice.services.ivr import IvrService
from outage_voice.services.leadership import LeaderElector
from outage_voice.services.lookup import LookupService
from outage_voice.services.metrics import Metrics
from outage_voice.services.outage_line import OutageLineService
from outage_voice.services.outages import OutageService
from outage_voice.services.outbound import OutboundService
from outage_voice.services.ports import Clock
from outage_voice.services.speech import PromptAudio
from outage_voice.services.spool import RequestSpool
from outage_voice.services.survey_call import CommentAudioService, SurveyCallService
from outage_voice.services.surveys import SurveyService
from outage_voice.services.tokens import TokenService
from outage_voice.services.users import UserService

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
POOL = web.AppKey("pool", asyncpg.Pool)
OUTAGES = web.AppKey("outages", OutageService)
LOOKUP = web.AppKey("lookup", LookupService)
TOKENS = web.AppKey("tokens", TokenService)
AUDIO_STORE = web.AppKey("audio_store", FileAudioStore)
PROMPT_AUDIO = web.AppKey("prompt_audio", PromptAudio)
CATALOGS = web.AppKey("catalogs", Mapping[str, Catalog])
IVR = web.AppKey("ivr", IvrService)
OUTAGE_LINE = web.AppKey("outage_line", OutageLineService)
CAMPAIGN_CALL = web.AppKey("campaign_call", CampaignCallService)
SPOOL = web.AppKey("spool", RequestSpool)
CALL_RECORDS = web.AppKey("call_records", CallRecorder)
CAMPAIGNS = web.AppKey("campaigns", CampaignService)
OUTBOUND = web.AppKey("outbound", OutboundService)
DIALER_STORE = web.AppKey("dialer_store", PgDialerStore)
# DATABASE_LEADER_URL (else the pool's): the leader lock's own session.
LEADER_DSN = web.AppKey("leader_dsn", str)
DIALER = web.AppKey("dialer", Dialer)
LEADER = web.AppKey("leader", LeaderElector)
VIRTUAL_CARRIER = web.AppKey("virtual_carrier", VirtualCarrier)
AUTOMATION = web.AppKey("automation", AutomationService)
# The leader's automation worker reads and writes through these.
AUTOMATION_STORE = web.AppKey("automation_store", AutomationStore)
AUTOMATIC_CAMPAIGNS = web.AppKey("automatic_campaigns", AutomaticCampaignStore)
SURVEYS = web.AppKey("surveys", SurveyService)
# An answered survey call, and its comments' audio (fetched from the carrier, served).
SURVEY_CALL = web.AppKey("survey_call", SurveyCallService)
SURVEY_COMMENTS = web.AppKey("survey_comments", CommentAudioService)
# Console accounts and sessions.
USERS = web.AppKey("users", UserService)
# This application's Prometheus registry and instruments (GET /metrics).
METRICS = web.AppKey("metrics", Metrics)
# This instance's row in instance_status, and the console's shared outage-line reading.
INSTANCE_HEARTBEAT = web.AppKey("instance_heartbeat", InstanceHeartbeat)
OUTAGE_LINE_VIEW = web.AppKey("outage_line_view", OutageLineView)
# The console's live feed: one reader per instance for every open console.
CONSOLE_FEED = web.AppKey("console_feed", ConsoleFeed)
