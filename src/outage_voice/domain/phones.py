"""Phone numbers: one canonical E.164 form, whatever the customer file or carrier sends.

`phonenumbers` is exact but costs ~50 µs a number, which is most of a million-row import.
North American numbers are validated by NPA-NXX (their first six digits): whether a NANP
number is valid depends only on those, so one `phonenumbers` verdict per prefix is cached
and reused. Anything else takes the full `phonenumbers` path.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from outage_voice.domain.errors import DomainError

_NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
_NOT_DIGITS = str.maketrans("", "", " ()-.\t/")
_MAX_INPUT_CHARS = 40


class InvalidPhone(DomainError):
    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"unparseable phone {raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


@lru_cache(maxsize=65536)
def _nanp_prefix_is_valid(npa_nxx: str) -> bool:
    sample = phonenumbers.parse(f"+1{npa_nxx}0100")
    return bool(phonenumbers.is_valid_number(sample))


def _nanp_fast_path(raw: str, region: str) -> str | None:
    """The E.164 form of a plainly written NANP number, or None to take the full path."""
    compact = raw.translate(_NOT_DIGITS)
    if compact.startswith("+1"):
        digits = compact[2:]
    elif compact.startswith("+"):
        return None
    elif region in _NANP_REGIONS:
        digits = compact[1:] if len(compact) == 11 and compact[0] == "1" else compact
    else:
        return None
    if len(digits) != 10 or not digits.isdigit() or not digits.isascii():
        return None
    return f"+1{digits}" if _nanp_prefix_is_valid(digits[:6]) else None


def normalize_phone(raw: str, region: str = "US") -> str:
    """E.164 (`+15125550100`) for any common way of writing a number; InvalidPhone otherwise."""
    text = raw.strip()
    if not text:
        raise InvalidPhone(raw, "empty")
    if len(text) > _MAX_INPUT_CHARS:
        raise InvalidPhone(raw, "too long")
    fast = _nanp_fast_path(text, region)
    if fast is not None:
        return fast
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(raw, str(exc.args[0]) if exc.args else "not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(raw, "not a valid number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def mask_phone(e164: str) -> str:
    """What logs may show of a number: enough to tell calls apart, not enough to dial."""
    if len(e164) <= 6:
        return "***"
    return f"{e164[:-7]}***{e164[-4:]}" if len(e164) > 8 else f"***{e164[-2:]}"


def is_known_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS
