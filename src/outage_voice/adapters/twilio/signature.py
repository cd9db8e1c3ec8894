"""Twilio's webhook signatures (X-Twilio-Signature), made and checked as the twilio package does.

Twilio signs the URL it requested followed by every POST parameter's name and value, sorted
by name, base64. The key is the account's Auth Token (HMAC-SHA1), or, when a Webhooks rule
matches the URL, a shared key's secret with the algorithm that rule names, announced in
`X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=HMAC_SHA256`. A JSON body is
signed through its SHA-256, carried in the URL's `bodySHA256` query parameter.

`signature_is_valid` accepts exactly what `twilio.request_validator.RequestValidator.validate`
accepts: the URL without any port or with the scheme's default one (a load balancer may
sign either), each name's distinct values once, the body hash, an unknown algorithm refused.
It gets there at a fraction of the package's cost on the webhook path: a URL's variants are
worked out once, by the package's own helpers, each HMAC is one call into OpenSSL, and
digests are compared in C.
tests/unit/test_signature.py runs both over the same generated requests.
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

from multidict import MultiDict
from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    add_port,
    get_signature_algorithm,
    remove_port,
)

__all__ = [
    "HMAC_SHA1",
    "HMAC_SHA256",
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "Params",
    "Verdict",
    "body_sha256",
    "check_webhook",
    "compute_signature",
    "settings_header",
    "signature_is_valid",
    "twilio_package_validates",
]

# A form (name, value pairs or a mapping; a MultiDict gives every value of a repeated name)
# or, for a JSON webhook, the raw body.
Params = Mapping[str, str] | Iterable[tuple[str, str]] | str
_DIGESTS: dict[str, Callable[..., Any]] = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}
_DIGEST_NAMES = {HMAC_SHA1: "sha1", HMAC_SHA256: "sha256"}
# Distinct webhook URLs whose variants are remembered: the outage line's steps carry their
# state in the query, so a storm has many, but far fewer than this are hot at once.
URL_MEMORY = 4096
BODY_HASH_PARAMETER = "bodySHA256"


class Verdict(enum.Enum):
    SIGNED = "signed"
    UNSIGNED = "no X-Twilio-Signature"
    WRONG = "a signature that does not match"
    NO_SHARED_KEY = "signed with a webhook shared key, and none is configured"
    UNKNOWN_ALGORITHM = "signed with an algorithm this server does not know"


def _pairs(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    return params.items() if isinstance(params, Mapping) else params


def _signed_text(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """Names sorted, then each name's distinct values sorted, as the package joins them."""
    pairs = params if isinstance(params, list) else list(_pairs(params))
    if len(dict(pairs)) == len(pairs):  # no name repeated: Twilio's usual
        return "".join([name + value for name, value in sorted(pairs)])
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def compute_signature(
    key: str,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    algorithm: str = HMAC_SHA1,
) -> str:
    """The X-Twilio-Signature Twilio sends for this request (a JSON body: sign its URL, which
    carries `bodySHA256`, with no params)."""
    payload = (url + _signed_text(params)).encode()
    return base64.b64encode(hmac.new(key.encode(), payload, _DIGESTS[algorithm]).digest()).decode()


def body_sha256(body: str) -> str:
    """The `bodySHA256` query value Twilio adds to the URL of a webhook with a JSON body."""
    return hashlib.sha256(body.encode()).hexdigest()


def settings_header(key_id: str, algorithm: str) -> str:
    """X-Twilio-Webhooks-Signature-Settings for a webhook signed with a shared key."""
    return f"key={key_id},algorithm={algorithm}"


@functools.lru_cache(maxsize=URL_MEMORY)
def _url_forms(url: str) -> tuple[tuple[bytes, ...], str | None] | None:
    """The URL as the package tries it (without its port, and with it or the scheme's
    default port), the one written as given first (usually the one signed), and the
    `bodySHA256` it names; None when the package could not parse it (it raises: never
    valid)."""
    try:
        parsed = urlparse(url)
        forms = {form.encode() for form in (remove_port(parsed), add_port(parsed))}
        given = url.encode()
    except ValueError:  # a bad port or host, or text that is not UTF-8
        return None
    ordered = tuple(sorted(forms, key=lambda form: form != given))
    query = parse_qs(parsed.query)
    body_hash = query[BODY_HASH_PARAMETER][0] if BODY_HASH_PARAMETER in query else None
    return ordered, body_hash


def signature_is_valid(
    key: str, url: str, params: Params, signature: str, algorithm: str | None = None
) -> bool:
    """Whether the twilio package's RequestValidator(key).validate(url, params, signature,
    algorithm) would accept this request (a request it cannot handle and raises on is not)."""
    algorithm = (algorithm or HMAC_SHA1).upper()
    if algorithm not in _DIGESTS or not signature.isascii():
        return False  # the signature a base64 digest: other text never equals it
    forms = _url_forms(url)
    if forms is None:
        return False
    variants, body_hash = forms
    try:
        if isinstance(params, str):
            if body_hash is not None:
                if body_sha256(params) != body_hash:
                    return False
                payload = b""
            elif params:
                return False  # a raw body is only signed through bodySHA256
            else:
                payload = b""
        else:
            payload = _signed_text(params).encode()
        secret = key.encode()
    except UnicodeEncodeError:  # lone surrogates: the package fails to encode them too
        return False
    expected = signature.encode()
    digest = _DIGEST_NAMES[algorithm]
    for variant in variants:
        mac = hmac.digest(secret, variant + payload, digest)  # one call into OpenSSL
        if hmac.compare_digest(base64.b64encode(mac), expected):
            return True
    return False


def twilio_package_validates(
    key: str, url: str, params: Params, signature: str, algorithm: str | None = None
) -> bool:
    """The twilio package's own answer, the reference `signature_is_valid` is held to (and
    what the webhook path cost before; see docs/PERFORMANCE.md)."""
    form: Any = params
    if not isinstance(params, (str, Mapping)):
        form = MultiDict(params)
    try:
        return bool(RequestValidator(key).validate(url, form, signature, algorithm))
    except (TypeError, ValueError):  # it raises on a raw body without bodySHA256, bad ports
        return False


def check_webhook(
    *,
    auth_token: str,
    shared_key: str | None,
    url: str,
    params: Params,
    signature: str,
    signature_settings: str,
    is_valid: Callable[[str, str, Params, str, str | None], bool] = signature_is_valid,
) -> Verdict:
    """Whether Twilio signed this webhook: with the shared key and the algorithm the settings
    header names when there is one (a Webhooks rule matched), else with the Auth Token."""
    if not signature:
        return Verdict.UNSIGNED
    if signature_settings:
        if shared_key is None:
            return Verdict.NO_SHARED_KEY
        key, algorithm = shared_key, get_signature_algorithm(signature_settings)
        if algorithm.upper() not in _DIGESTS:
            return Verdict.UNKNOWN_ALGORITHM
    else:
        key, algorithm = auth_token, HMAC_SHA1
    return Verdict.SIGNED if is_valid(key, url, params, signature, algorithm) else Verdict.WRONG
