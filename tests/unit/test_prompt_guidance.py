"""The words callers hear follow what utilities are told about outage communication: no
canned apology, no promise the product does not keep, an ETR always hedged and called an
estimate. Every message of every catalog is checked, so a new one is held to it too."""

from __future__ import annotations

import pytest

from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.domain.prompts import Catalog

CATALOGS = load_catalogs()
# Only these are spoken right before a <Dial>; nothing else may say a transfer is happening.
TRANSFER_MESSAGES = frozenset({"hazard_transfer", "agent_transfer"})
# Said only to a caller who just asked for a call back, which a call-back campaign closes.
CALLBACK_MESSAGES = frozenset({"callback_recorded", "callback_recorded_no_address"})
# Said only when the automation will call with an ETR (ETR updates on, and a promised
# update is never dropped by the per-outage cap): services/outbound.py chooses them.
ETR_PROMISE_MESSAGES = frozenset({"etr_will_call", "etr_cleared"})
CANNED_APOLOGY = {
    "en": ("inconvenience", "sorry for the"),
    "es": ("molestia", "inconveniente"),
}
TRANSFER_WORDS = {
    "en": ("connecting", "transferring", "transfer you", "putting you through"),
    "es": ("le comunicamos", "le transferimos", "le pasamos"),
}
# "We will call you" anywhere else is a promise no rule of the product keeps.
CALL_PROMISES = {"en": ("will call you",), "es": ("le llamaremos", "le volveremos a llamar")}
HEDGES = {"en": ("expect", "about"), "es": ("esperamos", "aproximadamente")}
ESTIMATE_WORDS = {"en": "estimate", "es": "estimad"}


def _messages(catalog: Catalog) -> list[tuple[str, str]]:
    return sorted((key, text.lower()) for key, text in catalog.messages.items())


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_no_canned_apology(language: str) -> None:
    catalog = CATALOGS[language]
    found = [
        (key, phrase)
        for key, text in _messages(catalog)
        for phrase in CANNED_APOLOGY[language]
        if phrase in text
    ]
    assert found == []


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_only_transfer_messages_say_the_call_is_being_transferred(language: str) -> None:
    catalog = CATALOGS[language]
    assert set(catalog.messages) >= TRANSFER_MESSAGES
    found = [
        (key, phrase)
        for key, text in _messages(catalog)
        if key not in TRANSFER_MESSAGES
        for phrase in TRANSFER_WORDS[language]
        if phrase in text
    ]
    assert found == []


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_no_promise_to_call_back_unless_asked(language: str) -> None:
    catalog = CATALOGS[language]
    found = [
        (key, phrase)
        for key, text in _messages(catalog)
        if key not in CALLBACK_MESSAGES | ETR_PROMISE_MESSAGES
        for phrase in CALL_PROMISES[language]
        if phrase in text
    ]
    assert found == []


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_every_etr_is_hedged_and_called_an_estimate(language: str) -> None:
    catalog = CATALOGS[language]
    with_etr = [(key, text) for key, text in _messages(catalog) if "{etr}" in text]
    assert {key for key, _ in with_etr} >= {"etr_known", "etr_changed"}
    for key, text in with_etr:
        assert any(hedge in text for hedge in HEDGES[language]), key
        assert ESTIMATE_WORDS[language] in text, key


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_planned_work_does_not_promise_its_end_time(language: str) -> None:
    caveat = {"en": "earlier or later than planned", "es": "antes o después de lo previsto"}
    with_window = [(key, text) for key, text in _messages(CATALOGS[language]) if "{window}" in text]
    assert {key for key, _ in with_window} >= {"planned_notice", "outage_known_planned"}
    for key, text in with_window:
        assert caveat[language] in text, key


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_the_menu_without_an_agent_line_offers_no_one_to_speak_with(language: str) -> None:
    messages = CATALOGS[language].messages
    press = {"en": "press 0", "es": "oprima 0"}[language]
    assert press in messages["menu"]
    assert press not in messages["menu_no_agent"]


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_the_public_emergency_number_is_said_when_there_is_no_transfer(language: str) -> None:
    assert "{phone}" in CATALOGS[language].messages["hazard_call_emergency"]


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_a_promised_etr_call_names_the_estimate_it_waits_for(language: str) -> None:
    """ "We will call you" about an ETR names the estimate it waits for; the short line said
    when no call will follow promises nothing."""
    messages = {key: text.lower() for key, text in CATALOGS[language].messages.items()}
    for key in ETR_PROMISE_MESSAGES:
        assert any(phrase in messages[key] for phrase in CALL_PROMISES[language]), key
        assert ESTIMATE_WORDS[language] in messages[key], key
    short = messages["etr_unknown_short"]
    assert ESTIMATE_WORDS[language] in short
    assert not any(phrase in short for phrase in CALL_PROMISES[language])
    assert "{address}" in messages["etr_cleared"]
