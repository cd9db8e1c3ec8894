"""TwiML documents parsed into verbs, as the carrier will execute them."""

from __future__ import annotations

# Documents come from the application under test on loopback, never from strangers.
import xml.etree.ElementTree as ET
from dataclasses import dataclass

# Twilio's error codes for a document it cannot use.
DOCUMENT_PARSE_FAILURE = 12100
MAX_VERBS = 200
# Twilio's <Record> defaults.
RECORD_MAX_LENGTH_S = 3600
RECORD_TIMEOUT_S = 5
RECORD_FINISH_KEYS = "1234567890*#"
TRIM_SILENCE = "trim-silence"


class TwimlError(Exception):
    def __init__(self, message: str, code: int = DOCUMENT_PARSE_FAILURE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, kw_only=True, slots=True)
class Say:
    text: str
    language: str
    voice: str | None
    loop: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Play:
    url: str
    loop: int
    digits: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Pause:
    length_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Gather:
    inputs: frozenset[str]
    num_digits: int | None
    timeout_s: float
    finish_on_key: str
    action: str | None
    method: str
    action_on_empty_result: bool
    prompts: tuple[Say | Play | Pause, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Record:
    action: str | None
    method: str
    timeout_s: float  # silence that ends the recording (0: none does)
    finish_on_key: str  # any one of these ends it ("" none)
    max_length_s: float
    play_beep: bool
    trim: bool  # silence trimmed from both ends of the recording


@dataclass(frozen=True, kw_only=True, slots=True)
class Redirect:
    url: str
    method: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class Dial:
    target: str
    action: str | None
    method: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Reject:
    reason: str


Verb = Say | Play | Pause | Gather | Record | Redirect | Hangup | Dial | Reject


def _int(element: ET.Element, name: str, default: int, *, low: int = 0) -> int:
    raw = element.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwimlError(f"<{element.tag}> {name}={raw!r} is not a number") from None
    if value < low:
        raise TwimlError(f"<{element.tag}> {name}={raw!r} is below {low}")
    return value


def _method(element: ET.Element) -> str:
    method = (element.get("method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise TwimlError(f"<{element.tag}> method={method!r} is not GET or POST")
    return method


def _prompt(element: ET.Element) -> Say | Play | Pause:
    text = (element.text or "").strip()
    if element.tag == "Say":
        return Say(
            text=text,
            language=element.get("language", "en-US"),
            voice=element.get("voice"),
            loop=_int(element, "loop", 1),
        )
    if element.tag == "Play":
        if not text and element.get("digits") is None:
            raise TwimlError("<Play> needs a URL")
        return Play(url=text, loop=_int(element, "loop", 1), digits=element.get("digits"))
    if element.tag == "Pause":
        return Pause(length_s=float(_int(element, "length", 1)))
    raise TwimlError(f"<{element.tag}> is not allowed here")


def _record(element: ET.Element) -> Record:
    if len(element):
        raise TwimlError("<Record> takes no nested verbs")
    trim = element.get("trim", TRIM_SILENCE)
    if trim not in (TRIM_SILENCE, "do-not-trim"):
        raise TwimlError(f"<Record> trim={trim!r} is not trim-silence or do-not-trim")
    play_beep = element.get("playBeep", "true").lower()
    if play_beep not in ("true", "false"):
        raise TwimlError(f"<Record> playBeep={play_beep!r} is not true or false")
    finish_on_key = element.get("finishOnKey", RECORD_FINISH_KEYS)
    if any(key not in RECORD_FINISH_KEYS for key in finish_on_key):
        raise TwimlError(f"<Record> finishOnKey={finish_on_key!r} holds a key not on a keypad")
    return Record(
        action=element.get("action"),
        method=_method(element),
        timeout_s=float(_int(element, "timeout", RECORD_TIMEOUT_S)),
        finish_on_key=finish_on_key,
        max_length_s=float(_int(element, "maxLength", RECORD_MAX_LENGTH_S, low=1)),
        play_beep=play_beep == "true",
        trim=trim == TRIM_SILENCE,
    )


def _verb(element: ET.Element) -> Verb:
    tag = element.tag
    if tag in ("Say", "Play", "Pause"):
        return _prompt(element)
    if tag == "Gather":
        inputs = frozenset((element.get("input") or "dtmf").split())
        if not inputs <= {"dtmf", "speech"}:
            raise TwimlError(f"<Gather> input={element.get('input')!r} is not dtmf and/or speech")
        num_digits = element.get("numDigits")
        return Gather(
            inputs=inputs,
            num_digits=None if num_digits is None else _int(element, "numDigits", 1, low=1),
            timeout_s=float(_int(element, "timeout", 5)),
            finish_on_key=element.get("finishOnKey", "#"),
            action=element.get("action"),
            method=_method(element),
            action_on_empty_result=element.get("actionOnEmptyResult", "false").lower() == "true",
            prompts=tuple(_prompt(child) for child in element),
        )
    if tag == "Record":
        return _record(element)
    if tag == "Redirect":
        url = (element.text or "").strip()
        if not url:
            raise TwimlError("<Redirect> needs a URL")
        return Redirect(url=url, method=_method(element))
    if tag == "Hangup":
        return Hangup()
    if tag == "Dial":
        numbers = [
            (child.text or "").strip()
            for child in element
            if child.tag in ("Number", "Sip", "Client")
        ]
        target = numbers[0] if numbers else (element.text or "").strip()
        if not target:
            raise TwimlError("<Dial> needs a number")
        return Dial(target=target, action=element.get("action"), method=_method(element))
    if tag == "Reject":
        return Reject(reason=element.get("reason", "rejected"))
    raise TwimlError(f"<{tag}> is not a TwiML verb")


def parse_twiml(document: str) -> tuple[Verb, ...]:
    try:
        root = ET.fromstring(document)  # noqa: S314 - trusted source, see the import
    except ET.ParseError as exc:
        raise TwimlError(f"not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>")
    if len(root) > MAX_VERBS:
        raise TwimlError(f"more than {MAX_VERBS} verbs")
    return tuple(_verb(element) for element in root)
