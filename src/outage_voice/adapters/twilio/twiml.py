"""TwiML documents, written straight to text.

The twilio package builds an ElementTree and serializes it, which was 14% of the outage
line's CPU under load. Webhooks only ever emit a handful of verbs, so this writes the same
XML directly; tests check it against the twilio package's output for every verb used.
"""

from __future__ import annotations

import functools
from xml.sax.saxutils import escape

_QUOTE = {'"': "&quot;"}
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


@functools.cache  # a handful of attribute names, on every webhook
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _attributes(values: dict[str, object]) -> str:
    named = []
    for name, value in values.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        named.append((_camel(name), escape(text, _QUOTE)))
    return "".join(f' {name}="{text}"' for name, text in sorted(named))


class _Verbs:
    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[str | Gather] = []

    def say(self, text: str, *, language: str | None = None, voice: str | None = None) -> None:
        attrs = _attributes({"language": language, "voice": voice})
        self._parts.append(f"<Say{attrs}>{escape(text)}</Say>")

    def play(self, url: str) -> None:
        self._parts.append(f"<Play>{escape(url)}</Play>")

    def _text(self) -> str:
        return "".join(part if isinstance(part, str) else part.xml() for part in self._parts)


class Gather(_Verbs):
    __slots__ = ("_attrs",)

    def __init__(self, attrs: dict[str, object]) -> None:
        super().__init__()
        self._attrs = _attributes(attrs)

    def xml(self) -> str:
        body = self._text()
        return f"<Gather{self._attrs}>{body}</Gather>" if body else f"<Gather{self._attrs} />"


class VoiceResponse(_Verbs):
    __slots__ = ()

    def gather(self, **attrs: object) -> Gather:
        gather = Gather(attrs)
        self._parts.append(gather)
        return gather

    def redirect(self, url: str, *, method: str | None = None) -> None:
        self._parts.append(f"<Redirect{_attributes({'method': method})}>{escape(url)}</Redirect>")

    def record(
        self,
        *,
        action: str | None = None,
        method: str | None = None,
        timeout: int | None = None,
        finish_on_key: str | None = None,
        max_length: int | None = None,
        play_beep: bool | None = None,
        trim: str | None = None,
    ) -> None:
        attrs = _attributes(
            {
                "action": action,
                "method": method,
                "timeout": timeout,
                "finish_on_key": finish_on_key,
                "max_length": max_length,
                "play_beep": play_beep,
                "trim": trim,
            }
        )
        self._parts.append(f"<Record{attrs} />")

    def dial(self, number: str) -> None:
        self._parts.append(f"<Dial>{escape(number)}</Dial>")

    def hangup(self) -> None:
        self._parts.append("<Hangup />")

    def __str__(self) -> str:
        body = self._text()
        return (
            f"{_DECLARATION}<Response>{body}</Response>" if body else f"{_DECLARATION}<Response />"
        )
