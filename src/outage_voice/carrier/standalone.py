"""`outage-voice carrier-sim`: the virtual carrier as its own server, on real time."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from outage_voice.adapters.twilio.signature import HMAC_SHA256
from outage_voice.carrier.calls import write_jsonl
from outage_voice.carrier.clock import RealClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import PersonaBook, persona_book_from_json
from outage_voice.carrier.rest import create_carrier_app
from outage_voice.event_loop import new_event_loop

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class StandaloneOptions:
    host: str
    port: int
    account_sid: str
    auth_token: str
    cps: float | None
    max_concurrent: int | None
    reject_429_share: float
    personas: Path | None
    seed: int
    call_log: Path | None
    create_delay_s: float = 0.0
    webhook_shared_key: str | None = None
    webhook_signature_algorithm: str = HMAC_SHA256


def load_personas(path: Path | None) -> PersonaBook:
    if path is None:
        return PersonaBook()
    return persona_book_from_json(json.loads(path.read_text(encoding="utf-8")))


def run_standalone(options: StandaloneOptions) -> None:
    carrier = VirtualCarrier(
        CarrierSettings(
            account_sid=options.account_sid,
            auth_token=options.auth_token,
            cps=options.cps,
            max_concurrent=options.max_concurrent,
            personas=load_personas(options.personas),
            reject_429_share=options.reject_429_share,
            seed=options.seed,
            create_delay_s=options.create_delay_s,
            webhook_shared_key=options.webhook_shared_key,
            webhook_signature_algorithm=options.webhook_signature_algorithm,
        ),
        RealClock(),
    )
    app = create_carrier_app(carrier)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        yield
        await carrier.close()
        if options.call_log is not None:
            with options.call_log.open("w", encoding="utf-8") as stream:
                write_jsonl(list(carrier.calls.values()), stream)
            logger.info("wrote %d calls to %s", len(carrier.calls), options.call_log)

    app.cleanup_ctx.append(lifecycle)
    print(
        f"virtual carrier on http://{options.host}:{options.port} "
        f"(account {options.account_sid}); set OUTAGE_VOICE_TWILIO_API_URL to this URL",
        flush=True,
    )
    web.run_app(
        app,
        host=options.host,
        port=options.port,
        access_log=None,
        print=None,
        loop=new_event_loop(),
    )
