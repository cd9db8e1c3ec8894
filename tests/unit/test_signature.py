"""Webhook signatures: ours accept exactly what the twilio package's RequestValidator accepts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from outage_voice.adapters.twilio.signature import (
    HMAC_SHA1,
    HMAC_SHA256,
    Params,
    Verdict,
    body_sha256,
    check_webhook,
    compute_signature,
    settings_header,
    signature_is_valid,
)

AUTH_TOKEN = "auth-token-0123456789abcdef"
SHARED_KEY = "shared-key-secret-0123456789"
LB_URL = "https://ivr.example.com:443/twilio/voice?lang=en"
SERVER_URL = "https://ivr.example.com/twilio/voice?lang=en"
FORM = [("CallSid", "CA" + "0" * 32), ("From", "+15125550100"), ("Digits", "1")]


def package_accepts(
    key: str, url: str, params: Params, signature: str, algorithm: str | None
) -> bool:
    """The twilio package itself; a request it raises on is one it does not accept."""
    form = params if isinstance(params, str) else MultiDict(list(params))  # type: ignore[arg-type]
    try:
        return bool(RequestValidator(key).validate(url, form, signature, algorithm))
    except (TypeError, ValueError):
        return False


def hand_rolled(key: str, url: str, params: Sequence[tuple[str, str]], signature: str) -> bool:
    """The check this server used to make: HMAC-SHA1 over the URL exactly as configured."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(key.encode(), payload.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(base64.b64encode(digest), signature.encode())


def test_a_url_signed_with_its_default_port_is_accepted_as_twilio_accepts_it() -> None:
    signed_with_port = compute_signature(AUTH_TOKEN, LB_URL, FORM)
    assert package_accepts(AUTH_TOKEN, SERVER_URL, FORM, signed_with_port, None)
    assert not hand_rolled(AUTH_TOKEN, SERVER_URL, FORM, signed_with_port)  # the 403s of old
    assert signature_is_valid(AUTH_TOKEN, SERVER_URL, FORM, signed_with_port)
    # And the other way round: the public URL written with :443, Twilio signing without it.
    signed_without = compute_signature(AUTH_TOKEN, SERVER_URL, FORM)
    assert signature_is_valid(AUTH_TOKEN, LB_URL, FORM, signed_without)
    # The package drops any port, not only the default one: so do we.
    other_port = "https://ivr.example.com:8443/twilio/voice?lang=en"
    assert package_accepts(AUTH_TOKEN, other_port, FORM, signed_without, None)
    assert signature_is_valid(AUTH_TOKEN, other_port, FORM, signed_without)
    assert not signature_is_valid(AUTH_TOKEN, SERVER_URL + "&x=1", FORM, signed_without)


def test_shared_key_signatures_need_the_key_and_the_named_algorithm() -> None:
    header = settings_header("webhooks_sharedkey_1", HMAC_SHA256)
    signature = compute_signature(SHARED_KEY, SERVER_URL, FORM, HMAC_SHA256)
    assert package_accepts(SHARED_KEY, SERVER_URL, FORM, signature, HMAC_SHA256)

    def check(shared_key: str | None, signature_settings: str, sig: str = signature) -> Verdict:
        return check_webhook(
            auth_token=AUTH_TOKEN,
            shared_key=shared_key,
            url=SERVER_URL,
            params=FORM,
            signature=sig,
            signature_settings=signature_settings,
        )

    assert check(SHARED_KEY, header) is Verdict.SIGNED
    assert check(SHARED_KEY, "") is Verdict.WRONG  # no header: the Auth Token, HMAC-SHA1
    assert check(None, header) is Verdict.NO_SHARED_KEY
    assert check(SHARED_KEY, "key=k,algorithm=HMAC_SHA512") is Verdict.UNKNOWN_ALGORITHM
    assert check(SHARED_KEY, header, "") is Verdict.UNSIGNED
    sha1 = compute_signature(SHARED_KEY, SERVER_URL, FORM, HMAC_SHA1)
    assert check(SHARED_KEY, header, sha1) is Verdict.WRONG
    assert check(SHARED_KEY, settings_header("k", HMAC_SHA1), sha1) is Verdict.SIGNED
    by_token = compute_signature(AUTH_TOKEN, SERVER_URL, FORM)
    assert check(SHARED_KEY, "", by_token) is Verdict.SIGNED  # URLs no rule matches


def test_a_json_body_is_signed_through_its_sha256() -> None:
    body = json.dumps({"CallSid": "CA1", "note": "luz apagada ☂"}, ensure_ascii=False)
    url = f"{SERVER_URL}&bodySHA256={body_sha256(body)}"
    signature = compute_signature(AUTH_TOKEN, url)
    assert package_accepts(AUTH_TOKEN, url, body, signature, None)
    assert signature_is_valid(AUTH_TOKEN, url, body, signature)
    assert not signature_is_valid(AUTH_TOKEN, url, body.replace("CA1", "CA2"), signature)
    assert not signature_is_valid(
        AUTH_TOKEN, SERVER_URL, body, compute_signature(AUTH_TOKEN, SERVER_URL)
    )
    assert not package_accepts(
        AUTH_TOKEN, SERVER_URL, body, compute_signature(AUTH_TOKEN, SERVER_URL), None
    )


def test_repeated_values_count_once_as_the_package_counts_them() -> None:
    form = [("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "ringing"), ("A", "1")]
    once = compute_signature(AUTH_TOKEN, SERVER_URL, form[1:])
    assert package_accepts(AUTH_TOKEN, SERVER_URL, form, once, None)
    assert signature_is_valid(AUTH_TOKEN, SERVER_URL, form, once)


# --- the same generated requests through both -------------------------------------------

KEYS = (AUTH_TOKEN, SHARED_KEY, "clé-ünïcode-🔑")
SCHEMES = ("https", "http", "HTTPS")
HOSTS = ("ivr.example.com", "127.0.0.1", "IVR.Example.COM", "[::1]", "user:pw@ivr.example.com")
PORTS = ("", "", ":443", ":80", ":8080", ":0", ":99999", ":x")
ALGORITHMS = (None, "", HMAC_SHA1, HMAC_SHA256, "hmac_sha256", "HMAC_SHA512")
# Few letters, so names and values repeat; the rest is any Unicode (and, rarely, a lone
# surrogate, which neither can encode).
texts = st.one_of(
    st.text(alphabet="ab", max_size=2),
    st.text(max_size=6),
    st.text(alphabet=st.sampled_from(["é", "€", "😀", " ", "&", "=", "+", "%", "#", "?", "/"])),
    st.just("\ud800"),
)
form_names = st.one_of(st.sampled_from(["Digits", "a", "b"]), texts)
form_values = st.one_of(st.sampled_from(["1", "2"]), texts)


@dataclass(frozen=True)
class Case:
    key: str
    url: str
    params: Params
    signature: str
    algorithm: str | None
    port_differs: bool
    repeated: bool
    json_body: bool


@st.composite
def cases(draw: st.DrawFn) -> Case:
    scheme, host = draw(st.sampled_from(SCHEMES)), draw(st.sampled_from(HOSTS))
    path = "/twilio/" + quote(draw(texts), safe="/", errors="surrogatepass")
    query = draw(st.lists(st.tuples(texts, texts), max_size=3))
    json_body = draw(st.booleans())
    params: Params
    if json_body:
        body = draw(st.one_of(st.just(""), texts.map(lambda t: json.dumps({"t": t}))))
        hashed = draw(st.sampled_from([body, body + " ", None]))
        if hashed is not None:
            query.append(("bodySHA256", body_sha256(hashed)))
        params, signed_params = body, []
    else:
        params = draw(st.lists(st.tuples(form_names, form_values), max_size=6))
        signed_params = draw(st.sampled_from([params, params, params[1:]]))
    q = urlencode(query, errors="surrogatepass")
    tail = draw(st.sampled_from([f"?{q}" if q else "", "?", "#frag"]))
    server_port = draw(st.sampled_from(PORTS))
    default_port = ":443" if scheme == "https" else ":80"
    signer_port = draw(st.sampled_from(["", default_port, server_port, *PORTS]))
    server_url = f"{scheme}://{host}{server_port}{path}{tail}"
    signer_url = f"{scheme}://{host}{signer_port}{path}{tail}"
    signer_key = draw(st.sampled_from(KEYS))
    key = draw(st.sampled_from([signer_key, signer_key, signer_key, *KEYS]))
    signer_algorithm = draw(st.sampled_from([HMAC_SHA1, HMAC_SHA256]))
    algorithm = draw(st.sampled_from([signer_algorithm] * 3 + list(ALGORITHMS)))
    how = draw(st.sampled_from(["package", "package", "every value", "text"]))
    signature: str
    try:
        if how == "package":
            form = MultiDict(signed_params)
            signer = RequestValidator(signer_key)
            signature = signer.compute_signature(signer_url, form, signer_algorithm)
        elif how == "every value":  # a repeated value twice in the signed text
            text = signer_url + "".join(n + v for n, v in sorted(signed_params))
            digest = hashlib.sha1 if signer_algorithm == HMAC_SHA1 else hashlib.sha256
            mac = hmac.new(signer_key.encode(), text.encode(), digest)
            signature = base64.b64encode(mac.digest()).decode()
        else:
            signature = draw(texts)
    except UnicodeEncodeError:
        signature = draw(texts)
    names = [name for name, _ in ([] if isinstance(params, str) else params)]
    return Case(
        key=key,
        url=server_url,
        params=params,
        signature=signature,
        algorithm=algorithm,
        port_differs=server_port != signer_port,
        repeated=len(set(names)) < len(names),
        json_body=json_body,
    )


def test_ours_accepts_exactly_what_the_twilio_package_accepts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="twilio.request_validator")  # "unsupported: SHA512"
    accepted: list[Case] = []
    refused = 0

    @settings(
        max_examples=2500,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(cases())
    def same_answer(case: Case) -> None:
        nonlocal refused
        expected = package_accepts(case.key, case.url, case.params, case.signature, case.algorithm)
        assert (
            signature_is_valid(case.key, case.url, case.params, case.signature, case.algorithm)
            is expected
        )
        if expected:
            accepted.append(case)
        else:
            refused += 1

    same_answer()
    # Both answers were exercised where they matter, not only refusals.
    assert refused > 100
    assert sum(1 for c in accepted if c.port_differs) > 10
    assert sum(1 for c in accepted if c.algorithm and c.algorithm.upper() == HMAC_SHA256) > 10
    assert sum(1 for c in accepted if c.repeated) > 3
    assert sum(1 for c in accepted if c.json_body) > 20
