"""Twilio's request signature (X-Twilio-Signature), computed and checked.

HMAC-SHA1 keyed with the auth token over the full URL followed by every POST parameter
name and value, sorted by name; base64. Same result as twilio.request_validator, without
its per-call overhead, which matters on the webhook and simulator hot paths.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping


def compute_signature(
    auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]] = ()
) -> str:
    items = params.items() if isinstance(params, Mapping) else params
    payload = url + "".join(name + value for name, value in sorted(items))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(
    auth_token: str,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    signature: str,
) -> bool:
    expected = compute_signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), signature.encode())
