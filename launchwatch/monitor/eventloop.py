"""Run the daemon's top coroutine on uvloop where it is installed, else on asyncio's own loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    # uvloop's loop costs less CPU per callback and per socket than the
    # pure-Python selector loop, which is most of what a probe run does.
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
