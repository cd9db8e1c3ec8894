"""The inbound benchmark's baseline: a bare aiohttp handler doing one asyncpg primary-key
lookup and answering fixed TwiML, on the same event loop and pool size as `serve`."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from outage_voice.adapters.db.pool import POOL_MAX_SIZE, POOL_MIN_SIZE
from outage_voice.event_loop import new_event_loop

POOL = web.AppKey("pool", asyncpg.Pool)
FIXED_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/twilio/menu" '
    'numDigits="1"><Say>To report an outage, press 1.</Say></Gather></Response>'
)


async def handle(request: web.Request) -> web.Response:
    form = await request.post()
    await request.app[POOL].fetchrow(
        "SELECT * FROM accounts WHERE account_number = $1", str(form.get("BenchAccount", ""))
    )
    return web.Response(text=FIXED_TWIML, content_type="text/xml")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        async with asyncpg.create_pool(
            args.dsn, min_size=POOL_MIN_SIZE, max_size=POOL_MAX_SIZE
        ) as pool:
            app[POOL] = pool
            yield

    app = web.Application()
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post("/{tail:.*}", handle)
    web.run_app(
        app, host="127.0.0.1", port=args.port, access_log=None, print=None, loop=new_event_loop()
    )


if __name__ == "__main__":
    main()
