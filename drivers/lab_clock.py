"""Clocks the instruments wait on: the wall clock in the lab, a virtual one in the twin.

A ramp or a settling wait calls ``clock.sleep(seconds)``; with :class:`WallClock` that blocks for
real, with :class:`thermalink.simulators.virtual_lab.clock.VirtualClock` it advances simulated time
instantly. Both expose ``now()`` in seconds.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time, s (monotonic)."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""


class WallClock:
    """Real time: ``time.monotonic`` and ``time.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
