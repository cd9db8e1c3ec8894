from __future__ import annotations

import random

import phonenumbers
import pytest

from outage_voice.domain.phones import InvalidPhone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "(512) 555-0100",
        "512-555-0100",
        "+15125550100",
        "512.555.0100",
        "1 512 555 0100",
        " 5125550100 ",
    ],
)
def test_common_spellings_are_one_number(raw: str) -> None:
    assert normalize_phone(raw, "US") == "+15125550100"


@pytest.mark.parametrize(
    "raw", ["", "   ", "12", "555-0100", "(123) 555-0100", "not a phone", "9" * 41]
)
def test_unusable_numbers_are_rejected_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(raw, "US")
    assert caught.value.reason


def test_international_numbers_take_the_full_path() -> None:
    assert normalize_phone("+44 20 7946 0958", "US") == "+442079460958"
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"


def test_fast_path_agrees_with_phonenumbers() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        digits = f"{rng.randrange(2_000_000_000, 9_999_999_999):010d}"
        raw = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        parsed = phonenumbers.parse(raw, "US")
        if phonenumbers.is_valid_number(parsed):
            expected = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            assert normalize_phone(raw, "US") == expected
        else:
            with pytest.raises(InvalidPhone):
                normalize_phone(raw, "US")


def test_masking_hides_the_middle() -> None:
    masked = mask_phone("+15125550100")
    assert masked == "+1512***0100"
    assert "555" not in masked
