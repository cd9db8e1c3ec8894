"""`outage-voice serve` with its webhook signature check swapped, for bench/inbound.py's
`--signatures` comparison: `python -m bench._serve_signature_check CHECK serve ...`.

- `ours`: the server as shipped (`signature_is_valid`, held to the twilio package by tests);
- `package`: the twilio package's RequestValidator on every webhook;
- `hand-rolled`: the check the server used to make (HMAC-SHA1 over the URL exactly as
  configured: wrong on default ports, shared keys and JSON bodies; here for its cost only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
from typing import Any

from outage_voice import cli
from outage_voice.adapters.twilio.signature import (
    Params,
    Verdict,
    signature_is_valid,
    twilio_package_validates,
)
from outage_voice.web import twilio_ivr


def hand_rolled(key: str, url: str, params: Params, signature: str, _: str | None) -> bool:
    if isinstance(params, str):
        return False
    pairs = params.items() if hasattr(params, "items") else params
    payload = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(key.encode(), payload.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(base64.b64encode(digest), signature.encode())


CHECKS = {
    "ours": signature_is_valid,
    "package": twilio_package_validates,
    "hand-rolled": hand_rolled,
}


def main() -> int:
    is_valid = CHECKS[sys.argv[1]]
    shipped = twilio_ivr.check_webhook

    def check_webhook(**arguments: Any) -> Verdict:
        return shipped(**arguments, is_valid=is_valid)

    # The middleware looks the check up at call time: swapping it here swaps it for every
    # webhook this bench server answers, with nothing else of the server changed.
    twilio_ivr.check_webhook = check_webhook  # type: ignore[assignment]
    return cli.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
