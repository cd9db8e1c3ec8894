"""Our TwiML writer says exactly what the twilio package would."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse as TwilioResponse

from outage_voice.adapters.twilio.twiml import VoiceResponse


def build(response: VoiceResponse | TwilioResponse) -> str:
    gather = response.gather(
        input="dtmf speech",
        num_digits=12,
        finish_on_key="#",
        action="/twilio/identify?lang=en&try=1",
        method="POST",
        timeout=10,
        speech_timeout="auto",
        language="es-US",
        hints="$OOV_CLASS_DIGIT_SEQUENCE",
    )
    gather.play("http://127.0.0.1:8080/audio/ab12.wav")
    gather.say('Oak & Elm <corner> "north"', language="en-US")
    response.say("Sabemos que no hay luz en 40 Elm Street.", language="es-US")
    response.play("http://127.0.0.1:8080/audio/cd34.wav")
    response.redirect("/twilio/menu?lang=en&premise=P1&repeat=1", method="POST")
    response.dial("+15125550911")
    response.hangup()
    return str(response)


def test_matches_the_twilio_package() -> None:
    assert build(VoiceResponse()) == build(TwilioResponse())


def test_empty_response() -> None:
    assert str(VoiceResponse()) == str(TwilioResponse())


def test_an_empty_gather() -> None:
    ours, theirs = VoiceResponse(), TwilioResponse()
    for response in (ours, theirs):
        response.gather(num_digits=1, action="/x", action_on_empty_result=True)
    assert str(ours) == str(theirs)


def test_a_record_with_every_attribute_we_write() -> None:
    ours, theirs = VoiceResponse(), TwilioResponse()
    for response in (ours, theirs):
        response.say("After the tone, tell us about the outage.", language="en-US")
        response.record(
            action="/twilio/survey?step=comment&lang=en",
            method="POST",
            timeout=5,
            finish_on_key="#",
            max_length=60,
            play_beep=True,
            trim="trim-silence",
        )
        response.record(play_beep=False, finish_on_key="")
        response.record()
        response.hangup()
    assert str(ours) == str(theirs)


async def test_a_flow_s_record_becomes_a_record_verb_posting_to_its_next_step() -> None:
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from outage_voice.adapters.clock import ManualClock
    from outage_voice.domain.flows.actions import Action, Hangup, Record
    from outage_voice.web.keys import CLOCK
    from outage_voice.web.voice_twiml import render_twiml
    from tests.support import T0

    app = web.Application()
    app[CLOCK] = ManualClock(T0)
    request = make_mocked_request("POST", "/twilio/survey", app=app)
    actions: list[Action[str]] = [Record(then="comment", max_length_s=45), Hangup()]
    response = await render_twiml(request, actions, lambda step: f"/twilio/survey?step={step}")
    expected = TwilioResponse()
    expected.record(
        action="/twilio/survey?step=comment",
        method="POST",
        max_length=45,
        finish_on_key="#",
        timeout=5,
        play_beep=True,
        trim="trim-silence",
    )
    expected.hangup()
    assert response.text == str(expected)
    assert response.content_type == "text/xml"
