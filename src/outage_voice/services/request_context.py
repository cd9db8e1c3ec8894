"""Which web request the running code works for, as a context variable.

The web middleware binds each request's id (and a webhook's CallSid) around its handling, and
the log handler copies them onto every line (outage_voice.logs), so a line written anywhere
while a webhook is handled carries them without its call site knowing. Work that outlives the
request which happened to start it, and serves others too, starts in `detached_context()`.
"""

from __future__ import annotations

import contextvars

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "outage_voice_request_id", default=None
)
_call_sid: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "outage_voice_call_sid", default=None
)

RequestTokens = tuple["contextvars.Token[str | None]", "contextvars.Token[str | None]"]


def current_request_id() -> str | None:
    return _request_id.get()


def current_call_sid() -> str | None:
    return _call_sid.get()


def bind_request(request_id: str, call_sid: str | None = None) -> RequestTokens:
    """Marks the current context as handling this request; undo with `unbind_request`."""
    return _request_id.set(request_id), _call_sid.set(call_sid)


def unbind_request(tokens: RequestTokens) -> None:
    request_token, sid_token = tokens
    _call_sid.reset(sid_token)
    _request_id.reset(request_token)


def detached_context() -> contextvars.Context:
    """A copy of the current context outside any request, for a task that outlives the
    request which happened to start it (a feed shared by every console, say): pass it as
    create_task's `context`, or spawn inside its `run`."""
    context = contextvars.copy_context()
    context.run(_request_id.set, None)
    context.run(_call_sid.set, None)
    return context
