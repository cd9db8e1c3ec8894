"""The one place that picks concrete adapters and wires them into services."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import asyncpg
from aiohttp import web

from outage_voice.adapters.audio import join_wavs, wav_seconds
from outage_voice.adapters.audio_store import FileAudioStore
from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.adapters.clock import SystemClock
from outage_voice.adapters.cron import CronTicker, TimerTicker
from outage_voice.adapters.db.automatic_campaigns import PgAutomaticCampaignStore
from outage_voice.adapters.db.automation import AUTOMATION_CHANNEL, PgAutomationStore
from outage_voice.adapters.db.call_records import PgCallRecordStore
from outage_voice.adapters.db.campaign_admin import PgCampaignAdminStore
from outage_voice.adapters.db.console import PgConsoleStore
from outage_voice.adapters.db.customers import PgCustomerStore
from outage_voice.adapters.db.dialer import DIALER_CHANNEL, PgDialerStore
from outage_voice.adapters.db.errors import is_database_unavailable
from outage_voice.adapters.db.instance_status import PgInstanceStatusStore, PgOutageLineStats
from outage_voice.adapters.db.ivr import PgIvrStore
from outage_voice.adapters.db.leadership import PgLeaderLock
from outage_voice.adapters.db.migrations import apply_migrations
from outage_voice.adapters.db.outages import PgOutageStore
from outage_voice.adapters.db.outbound import PgOutboundStore
from outage_voice.adapters.db.pool import (
    database_urls,
    open_pool,
    pool_use,
    statement_cache_size,
)
from outage_voice.adapters.db.schedule import PgScheduleStore
from outage_voice.adapters.db.status import PgStatusStore
from outage_voice.adapters.db.survey_calls import PgSurveyCallStore
from outage_voice.adapters.db.surveys import PgSurveyStore
from outage_voice.adapters.db.tokens import PgTokenStore
from outage_voice.adapters.db.users import PgUserStore
from outage_voice.adapters.passwords import ScryptHasher
from outage_voice.adapters.tts.espeak import EspeakEngine
from outage_voice.adapters.tts.gtts import GttsEngine
from outage_voice.adapters.twilio.calls import TwilioCalls
from outage_voice.adapters.twilio.recordings import CarrierRecordings
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.rest import create_carrier_app
from outage_voice.config import VIRTUAL_ACCOUNT_SID, VIRTUAL_AUTH_TOKEN, Settings
from outage_voice.domain.carrier_calls import CarrierCall
from outage_voice.domain.customers import CustomerDefaults
from outage_voice.domain.flows.campaign_call import CampaignCallConfig, CampaignCallFlow
from outage_voice.domain.flows.outage_line import LineConfig, OutageLine
from outage_voice.domain.flows.survey_call import SurveyCallFlow
from outage_voice.domain.prompts import Catalog
from outage_voice.services.automation import AutomationService, AutomationWorker
from outage_voice.services.call_records import CallRecorder
from outage_voice.services.campaign_call import CampaignCallService
from outage_voice.services.campaigns import CampaignService
from outage_voice.services.console_feed import ConsoleFeed
from outage_voice.services.customers import CustomerImportService
from outage_voice.services.dialer import Dialer
from outage_voice.services.instance_status import (
    InstanceHeartbeat,
    InstanceSources,
    OutageLineView,
)
from outage_voice.services.instruments import NO_INSTRUMENTS, Instruments
from outage_voice.services.ivr import IvrService
from outage_voice.services.leadership import LeaderElector, LeaderJob
from outage_voice.services.lookup import LookupService
from outage_voice.services.metrics import Metrics, metric_total
from outage_voice.services.outage_line import OutageLineService
from outage_voice.services.outages import OutageService
from outage_voice.services.outbound import OutboundService
from outage_voice.services.ports import (
    CarrierCallUnknown,
    CarrierUnclear,
    Clock,
    Timer,
)
from outage_voice.services.schedule import ScheduleWorker, Ticker
from outage_voice.services.speech import PromptAudio, SpeechEngine
from outage_voice.services.spool import RequestSpool
from outage_voice.services.survey_call import (
    CommentAudioService,
    CommentSweeper,
    SurveyCallService,
)
from outage_voice.services.surveys import SurveyService
from outage_voice.services.tokens import TokenService
from outage_voice.services.users import UserService
from outage_voice.web import keys
from outage_voice.web.app import create_web_app
from outage_voice.web.callback_urls import CampaignCallUrls
from outage_voice.web.console import campaigns as console_campaigns
from outage_voice.web.jsonio import dumps as json_dumps

DEFAULT_LANGUAGE = "en"
LAST_FLUSH_TIMEOUT_S = 5.0
logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Services:
    pool: asyncpg.Pool
    catalogs: Mapping[str, Catalog]
    audio_store: FileAudioStore
    prompt_audio: PromptAudio
    outages: OutageService
    ivr: IvrService
    lookup: LookupService
    tokens: TokenService
    customers: CustomerImportService
    call_records: CallRecorder
    dialer_store: PgDialerStore
    campaigns: CampaignService
    outbound: OutboundService
    automation: AutomationService
    automation_store: PgAutomationStore
    automatic_campaigns: PgAutomaticCampaignStore
    surveys: SurveyService
    users: UserService
    dsn: str
    # Where the leader lock and its notifications connect (DATABASE_LEADER_URL, else dsn).
    leader_dsn: str = ""


def speech_engines(settings: Settings) -> list[SpeechEngine]:
    """gTTS when asked for, always with espeak behind it; espeak alone by default (offline)."""
    espeak = EspeakEngine()
    if settings.tts_engine == "gtts":
        return [GttsEngine(), espeak]
    return [espeak]


def build_services(
    pool: asyncpg.Pool,
    settings: Settings,
    clock: Clock,
    *,
    engines: list[SpeechEngine] | None = None,
    dsn: str = "",
    leader_dsn: str = "",
    instruments: Instruments = NO_INSTRUMENTS,
) -> Services:
    audio_store = FileAudioStore(settings.audio_dir, pool)
    catalogs = load_catalogs()
    outage_store = PgOutageStore(pool)
    outages = OutageService(outage_store, clock)
    lookup = LookupService(PgStatusStore(pool), region=settings.region)
    campaign_admin = PgCampaignAdminStore(pool, plan_shards=settings.plan_shards)
    automation_store = PgAutomationStore(pool)
    automatic_campaigns = PgAutomaticCampaignStore(pool)
    return Services(
        pool=pool,
        catalogs=catalogs,
        audio_store=audio_store,
        prompt_audio=PromptAudio(
            engines if engines is not None else speech_engines(settings),
            audio_store,
            clock,
            duration_ms=lambda data: round(wav_seconds(data) * 1000),
            join=join_wavs,
            instruments=instruments,
        ),
        outages=outages,
        ivr=IvrService(PgIvrStore(pool), clock),
        lookup=lookup,
        tokens=TokenService(PgTokenStore(pool), clock),
        customers=CustomerImportService(
            PgCustomerStore(pool),
            CustomerDefaults(
                timezone=settings.timezone, language=DEFAULT_LANGUAGE, region=settings.region
            ),
            spoken_languages=frozenset(catalogs),
        ),
        call_records=CallRecorder(PgCallRecordStore(pool), instruments=instruments),
        dialer_store=PgDialerStore(pool),
        campaigns=CampaignService(campaign_admin, clock, default_timezone=settings.timezone),
        outbound=OutboundService(
            PgOutboundStore(pool), outages, lookup, clock, catalogs, instruments=instruments
        ),
        automation=AutomationService(
            automation_store, automatic_campaigns, outage_store, campaign_admin, clock
        ),
        automation_store=automation_store,
        automatic_campaigns=automatic_campaigns,
        surveys=SurveyService(
            PgSurveyStore(pool), automation_store, clock, prompts=_shared_messages(catalogs)
        ),
        users=UserService(PgUserStore(pool), ScryptHasher(), clock),
        dsn=dsn,
        leader_dsn=leader_dsn or dsn,
    )


def _shared_messages(catalogs: Mapping[str, Catalog]) -> frozenset[str]:
    """The catalog messages every language has."""
    keys = [frozenset(catalog.messages) for catalog in catalogs.values()]
    return frozenset.intersection(*keys) if keys else frozenset()


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    instruments: Instruments = NO_INSTRUMENTS,
) -> AsyncIterator[Services]:
    """Database (embedded without DATABASE_URL), migrations, pool and services; closed in order."""
    load_catalogs()  # a broken catalog stops the start, naming its key, before anything opens
    async with database_urls(settings) as urls:
        if migrate:
            # Under a session advisory lock: on the leader's URL, past any transaction pooler.
            connection = await asyncpg.connect(urls.leader)
            try:
                await apply_migrations(connection)
            finally:
                await connection.close()
        async with open_pool(
            urls.pool,
            min_size=settings.pool_min_size,
            max_size=settings.pool_size,
            statement_cache_size=statement_cache_size(settings),
        ) as pool:
            engines = speech_engines(settings)
            try:
                yield build_services(
                    pool,
                    settings,
                    clock or SystemClock(),
                    engines=engines,
                    dsn=urls.pool,
                    leader_dsn=urls.leader,
                    instruments=instruments,
                )
            finally:
                for engine in engines:
                    engine.close()


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    timer: Timer | None = None,
    run_dialer: bool | None = None,
    carrier_settings: CarrierSettings | None = None,
) -> web.Application:
    """The server. The dialer runs on `timer` (the real clock by default; tests give the
    virtual one); with a clock given and no timer it is off unless asked for."""
    app = create_web_app()
    app[keys.SETTINGS] = settings
    real = SystemClock()
    app[keys.CLOCK] = clock or real
    app[keys.SPOOL] = RequestSpool(settings.home / "spool")
    metrics = app[keys.METRICS] = Metrics()
    metrics.state.spool_depth = app[keys.SPOOL].pending
    dialer_timer = timer or (real if clock is None else None)
    if run_dialer is None:
        run_dialer = dialer_timer is not None
    carrier = None
    if run_dialer and settings.twilio is None and settings.twilio_api_url is None:
        # No carrier account: calls go to the built-in virtual carrier, served here. It signs
        # with the webhook shared key when one is set, as a Twilio Webhooks rule would.
        carrier = VirtualCarrier(
            carrier_settings
            or CarrierSettings(cps=None, webhook_shared_key=settings.webhook_shared_key),
            dialer_timer or real,
        )
        app[keys.VIRTUAL_CARRIER] = carrier
        app.add_subapp(VIRTUAL_CARRIER_PREFIX, create_carrier_app(carrier))
    app.cleanup_ctx.append(_services_ctx(settings))
    app.cleanup_ctx.append(_survey_calls_ctx(settings))
    app.cleanup_ctx.append(_console_feed_ctx)
    app.on_shutdown.append(console_campaigns.close_feed)
    app.cleanup_ctx.append(_instance_status_ctx(settings, real))
    if run_dialer:
        # Leader-only work: jobs register with the elector, opened before them, closed after.
        app.cleanup_ctx.append(_leader_ctx(dialer_timer or real))
        app.cleanup_ctx.append(_dialer_ctx(settings, dialer_timer or real, carrier))
        app.cleanup_ctx.append(_automation_ctx(dialer_timer or real, timezone=settings.timezone))
        app.cleanup_ctx.append(_schedule_ctx(settings, dialer_timer or real))
        app.cleanup_ctx.append(_survey_comments_ctx(dialer_timer or real))
        if carrier is None:
            app.on_shutdown.append(_hand_over)
    return app


async def _hand_over(app: web.Application) -> None:
    """A stopping instance lets leadership go first, before it drains: its leader-only work
    stops and another instance takes over while this one still answers the webhooks in
    flight, which may take up to the shutdown timeout; campaigns do not wait on them.
    (With the built-in carrier, whose calls end with this process, the leader keeps its
    lock until it has settled them.)"""
    elector = app.get(keys.LEADER)
    if elector is not None:
        await elector.close()


async def _console_feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """The console's live feed: idle until a console opens its stream."""
    feed = ConsoleFeed(
        app[keys.CAMPAIGNS], PgConsoleStore(app[keys.POOL]), app[keys.CLOCK], dumps=json_dumps
    )
    app[keys.CONSOLE_FEED] = feed
    try:
        yield
    finally:
        await feed.close()


VIRTUAL_CARRIER_PREFIX = "/virtual-carrier"
VIRTUAL_FROM_NUMBER = "+15125550000"


def _instance_status_ctx(
    settings: Settings, timer: Timer
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Every instance's heartbeat row for the console's outage-line page, and the page's
    shared reading of it."""

    async def instance_status_ctx(app: web.Application) -> AsyncIterator[None]:
        metrics = app[keys.METRICS]
        store = PgInstanceStatusStore(app[keys.POOL])

        def leads() -> bool:
            elector = app.get(keys.LEADER)
            return elector is not None and elector.leads()

        heartbeat = InstanceHeartbeat(
            store,
            InstanceSources(
                leader=leads,
                spool_depth=app[keys.SPOOL].pending,
                degraded_answers=functools.partial(metric_total, metrics.degraded_answers),
                webhooks=functools.partial(metric_total, metrics.webhook_seconds),
            ),
            app[keys.CLOCK],
        )
        app[keys.INSTANCE_HEARTBEAT] = heartbeat
        app[keys.OUTAGE_LINE_VIEW] = OutageLineView(
            PgOutageLineStats(app[keys.POOL]), store, app[keys.CLOCK], timezone=settings.timezone
        )
        try:
            async with asyncio.timeout(LAST_FLUSH_TIMEOUT_S):
                await heartbeat.beat()
        except Exception as exc:  # the page lists it from the next beat
            logger.warning("instance status not written at start: %r", exc)
        task = asyncio.create_task(heartbeat.run(timer))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            try:
                async with asyncio.timeout(LAST_FLUSH_TIMEOUT_S):
                    await heartbeat.stop()
            except Exception as exc:  # stopping anyway: the row ages off the page in 30 s
                logger.warning("instance status not removed at shutdown: %r", exc)

    return instance_status_ctx


def _leader_ctx(timer: Timer) -> Callable[[web.Application], AsyncIterator[None]]:
    async def leader_ctx(app: web.Application) -> AsyncIterator[None]:
        elector = LeaderElector(PgLeaderLock(app[keys.LEADER_DSN]), timer)
        app[keys.LEADER] = elector
        app[keys.METRICS].state.leader = elector.leads
        elector.start()
        try:
            yield
        finally:
            app[keys.METRICS].state.leader = None
            await elector.close()

    return leader_ctx


def _dialer_ctx(
    settings: Settings, timer: Timer, carrier: VirtualCarrier | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def dialer_ctx(app: web.Application) -> AsyncIterator[None]:
        if settings.twilio is not None:
            account_sid, token = settings.twilio.account_sid, settings.twilio.auth_token
            from_number = settings.twilio.from_number
        else:
            account_sid, token = VIRTUAL_ACCOUNT_SID, VIRTUAL_AUTH_TOKEN
            from_number = VIRTUAL_FROM_NUMBER
        api_url = settings.twilio_api_url
        if carrier is not None:
            api_url = settings.public_url + VIRTUAL_CARRIER_PREFIX
        if from_number is None:
            logger.error("TWILIO_FROM_NUMBER is not set: campaigns cannot place calls")
            yield
            return
        calls = TwilioCalls(account_sid=account_sid, auth_token=token, api_url=api_url)
        outbound = app[keys.OUTBOUND]
        dialer = Dialer(
            app[keys.DIALER_STORE],
            calls,
            timer,
            call_urls=CampaignCallUrls(settings.public_url),
            from_number=from_number,
            on_refused=outbound.refused,
            on_settled=outbound.settled,
            on_lost=outbound.lost,
            instruments=app[keys.METRICS],
        )
        app[keys.DIALER] = dialer
        elector = app[keys.LEADER]
        # Pacing is the leader's to report: another instance's dialer paces nothing.
        app[keys.METRICS].state.campaigns = lambda: dialer.pacing() if elector.leads() else []
        await elector.add(
            LeaderJob(name="dialer", run=dialer.run, channel=DIALER_CHANNEL, on_notify=dialer.wake)
        )
        try:
            yield
        finally:
            await elector.remove("dialer")
            app[keys.METRICS].state.campaigns = None
            if carrier is not None:
                # The calls it carries end with this process: their final callbacks are
                # applied before another leader takes over (the elector lets go after this),
                # so none is left live for ever. Requests cut off by the closed socket are
                # settled first, asking the carrier object itself whether each call was
                # created: by the leader only, whose calls those are.
                try:
                    if elector.leads():
                        await dialer.reconcile(everything=True, placer=_InProcessCalls(carrier))
                except Exception as exc:  # left in doubt: the next leader settles them
                    logger.warning("calls being placed at shutdown not settled: %r", exc)
                ended = await carrier.end_calls(functools.partial(_final_callback, outbound))
                if ended:
                    logger.info("virtual carrier: %d live call(s) ended at shutdown", len(ended))
            await calls.close()
            if carrier is not None:
                await carrier.close()

    return dialer_ctx


def _automation_ctx(
    timer: Timer, *, timezone: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The OMS-driven calls: the outbox consumed on the leader, beside the dialer."""

    async def automation_ctx(app: web.Application) -> AsyncIterator[None]:
        worker = AutomationWorker(
            app[keys.AUTOMATION_STORE],
            app[keys.AUTOMATIC_CAMPAIGNS],
            timer,
            unavailable=is_database_unavailable,
            timezone=timezone,
            instruments=app[keys.METRICS],
        )
        elector = app[keys.LEADER]
        await elector.add(
            LeaderJob(
                name="automation",
                run=worker.run,
                channel=AUTOMATION_CHANNEL,
                on_notify=worker.wake,
            )
        )
        try:
            yield
        finally:
            await elector.remove("automation")

    return automation_ctx


def _schedule_ctx(
    settings: Settings, timer: Timer
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Planned-work messages and surveys made from the schedule when due, on the leader:
    at each tick of OUTAGE_VOICE_SCHEDULE_CRON, on real time through aiocron, or on the
    injected (virtual) timer."""

    async def schedule_ctx(app: web.Application) -> AsyncIterator[None]:
        ticker: Ticker
        if isinstance(timer, SystemClock):
            ticker = CronTicker(settings.schedule_cron, timezone=settings.timezone)
        else:
            ticker = TimerTicker(settings.schedule_cron, timer, timezone=settings.timezone)
        worker = ScheduleWorker(
            PgScheduleStore(app[keys.POOL]),
            app[keys.AUTOMATION_STORE],
            app[keys.AUTOMATIC_CAMPAIGNS],
            app[keys.SURVEYS],
            ticker,
            timer,
            unavailable=is_database_unavailable,
        )
        elector = app[keys.LEADER]
        await elector.add(LeaderJob(name="schedule", run=worker.run))
        try:
            yield
        finally:
            await elector.remove("schedule")

    return schedule_ctx


def _carrier_account(settings: Settings) -> tuple[str, str]:
    """The account SID and Auth Token calls are placed with (the virtual carrier's own
    without a Twilio account): its recordings are fetched with the same."""
    if settings.twilio is not None:
        return settings.twilio.account_sid, settings.twilio.auth_token
    return VIRTUAL_ACCOUNT_SID, VIRTUAL_AUTH_TOKEN


def _survey_calls_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """Answered survey calls, on every instance: any may answer a step of any call."""

    async def survey_calls_ctx(app: web.Application) -> AsyncIterator[None]:
        account_sid, auth_token = _carrier_account(settings)
        recordings = CarrierRecordings(account_sid=account_sid, auth_token=auth_token)
        store = PgSurveyCallStore(app[keys.POOL])
        comments = CommentAudioService(store, recordings, app[keys.CLOCK])
        app[keys.SURVEY_COMMENTS] = comments
        app[keys.SURVEY_CALL] = SurveyCallService(
            flow=SurveyCallFlow(),
            store=store,
            comments=comments,
            clock=app[keys.CLOCK],
            languages=frozenset(app[keys.CATALOGS].keys()),
        )
        try:
            yield
        finally:
            await comments.close()
            await recordings.close()

    return survey_calls_ctx


def _survey_comments_ctx(timer: Timer) -> Callable[[web.Application], AsyncIterator[None]]:
    """Comments whose audio could not be fetched when they were made, fetched again by the
    leader."""

    async def survey_comments_ctx(app: web.Application) -> AsyncIterator[None]:
        sweeper = CommentSweeper(
            app[keys.SURVEY_COMMENTS], timer, unavailable=is_database_unavailable
        )
        elector = app[keys.LEADER]
        await elector.add(LeaderJob(name="survey_comments", run=sweeper.run))
        try:
            yield
        finally:
            await elector.remove("survey_comments")

    return survey_comments_ctx


class _InProcessCalls:
    """The in-process virtual carrier's calls, read directly: its REST API is served on the
    server's own socket, which is closed once the server is stopping."""

    def __init__(self, carrier: VirtualCarrier) -> None:
        self._carrier = carrier

    async def place(self, **_: object) -> str:
        raise CarrierUnclear("the server is stopping")

    async def find(self, *, to: str, started_after: datetime) -> list[CarrierCall]:
        # As the REST API filters them (StartTime: its creation, for a call still queued).
        calls = self._carrier.calls.values()
        found = [c for c in calls if c.to == to and (c.start_time or c.created_at) >= started_after]
        return [self._call(c) for c in sorted(found, key=lambda c: c.created_at, reverse=True)]

    async def fetch(self, sid: str) -> CarrierCall:
        call = self._carrier.calls.get(sid)
        if call is None:
            raise CarrierCallUnknown(sid)
        return self._call(call)

    async def cancel(self, sid: str) -> None:
        raise CarrierUnclear("the server is stopping")

    @staticmethod
    def _call(call: CallRecord) -> CarrierCall:
        return CarrierCall(
            sid=call.sid,
            to=call.to,
            from_=call.from_,
            status=call.status.value,
            answered_by=call.answered_by,
            duration_s=call.duration_s if call.end_time else None,
        )


async def _final_callback(
    outbound: OutboundService, call: CallRecord, params: Mapping[str, str]
) -> None:
    """A final status callback of the in-process carrier, applied as /twilio/status would."""
    query = parse_qs(urlsplit(call.status_callback or "").query)

    def number(name: str) -> int | None:
        values = query.get(name, [])
        return int(values[0]) if values and values[0].isdigit() else None

    attempt, campaign, attempt_no = number("attempt"), number("campaign"), number("attempt_no")
    if attempt is None:
        return  # not a campaign call: nothing waits on its end
    error_code = params.get("ErrorCode")
    await outbound.status(
        attempt,
        status=params["CallStatus"],
        sequence=int(params["SequenceNumber"]),
        call_sid=params["CallSid"],
        answered_by=params.get("AnsweredBy"),
        error_code=int(error_code) if error_code else None,
        duration_s=int(params["CallDuration"]),
        placed_as=None if campaign is None or attempt_no is None else (campaign, attempt_no),
    )


def _services_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        metrics = app[keys.METRICS]
        async with open_services(settings, clock=app[keys.CLOCK], instruments=metrics) as services:
            app[keys.POOL] = services.pool
            metrics.state.pool = functools.partial(pool_use, services.pool)
            app[keys.OUTAGES] = services.outages
            app[keys.LOOKUP] = services.lookup
            app[keys.TOKENS] = services.tokens
            app[keys.AUDIO_STORE] = services.audio_store
            app[keys.PROMPT_AUDIO] = services.prompt_audio
            app[keys.CATALOGS] = services.catalogs
            app[keys.IVR] = services.ivr
            app[keys.CALL_RECORDS] = services.call_records
            app[keys.CAMPAIGNS] = services.campaigns
            app[keys.OUTBOUND] = services.outbound
            app[keys.AUTOMATION] = services.automation
            app[keys.AUTOMATION_STORE] = services.automation_store
            app[keys.AUTOMATIC_CAMPAIGNS] = services.automatic_campaigns
            app[keys.SURVEYS] = services.surveys
            app[keys.USERS] = services.users
            app[keys.DIALER_STORE] = services.dialer_store
            app[keys.LEADER_DSN] = services.leader_dsn
            app[keys.OUTAGE_LINE] = _outage_line(
                settings, services, app[keys.SPOOL], app[keys.CLOCK], metrics
            )
            app[keys.CAMPAIGN_CALL] = _campaign_call(settings, services.outbound)
            background = [
                asyncio.create_task(app[keys.SPOOL].replay_forever(services.ivr)),
                asyncio.create_task(services.call_records.flush_forever()),
            ]
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await _last_flush(services.call_records)
                metrics.state.pool = None

    return services_ctx


def _outage_line(
    settings: Settings,
    services: Services,
    spool: RequestSpool,
    clock: Clock,
    instruments: Instruments = NO_INSTRUMENTS,
) -> OutageLineService:
    """The outage line's flow over this instance's services, built once: settings never
    change while the server runs."""
    line = OutageLine(
        LineConfig(
            languages=frozenset(services.catalogs.keys()),
            agent_number=settings.agent_number,
            agent_hours=settings.agent_hours,
            timezone=settings.timezone,
            emergency_number=settings.emergency_number,
            public_emergency_number=settings.public_emergency_number,
        )
    )
    return OutageLineService(
        line=line,
        lookup=services.lookup,
        ivr=services.ivr,
        spool=spool,
        notes=services.call_records,
        clock=clock,
        unavailable=is_database_unavailable,
        instruments=instruments,
    )


def _campaign_call(settings: Settings, outbound: OutboundService) -> CampaignCallService:
    twilio = settings.twilio
    config = CampaignCallConfig(callback_number=twilio.from_number if twilio else None)
    return CampaignCallService(flow=CampaignCallFlow(config), calls=outbound)


async def _last_flush(records: CallRecorder) -> None:
    try:
        async with asyncio.timeout(LAST_FLUSH_TIMEOUT_S):
            await records.flush()
    except Exception as exc:  # shutting down: say what is lost, don't hang on it
        logger.warning("%d call record events not written at shutdown: %r", records.pending, exc)
