"""The event loop servers run on: uvloop where it is installed (Linux, macOS), else asyncio's."""

from __future__ import annotations

import asyncio


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # Windows, or a platform without a wheel
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
