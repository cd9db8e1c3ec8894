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
