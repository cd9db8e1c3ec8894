"""`outage-voice serve` with or without its metrics, for bench/inbound.py's `--metrics`
comparison: `python -m bench._serve_metrics on|off serve ...`.

- `on`: the server as shipped (every webhook timed, services counting);
- `off`: the webhook timing middleware taken out and every instrument a no-op, which is the
  server as it was before it had metrics (GET /metrics still answers, with nothing moving).
"""

from __future__ import annotations

import sys

from aiohttp import web

from outage_voice import bootstrap, cli
from outage_voice.services.instruments import NoInstruments
from outage_voice.services.metrics import Metrics
from outage_voice.web import metrics as web_metrics

INSTRUMENTS = [name for name in vars(NoInstruments) if not name.startswith("_")]


def main() -> int:
    if sys.argv[1] == "off":
        shipped = bootstrap.create_web_app

        def without_timing() -> web.Application:
            app = shipped()
            app.middlewares.remove(web_metrics.webhook_timing)
            return app

        bootstrap.create_web_app = without_timing  # type: ignore[assignment]
        for name in INSTRUMENTS:
            setattr(Metrics, name, getattr(NoInstruments, name))
    elif sys.argv[1] != "on":
        raise SystemExit("usage: python -m bench._serve_metrics on|off serve ...")
    return cli.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
