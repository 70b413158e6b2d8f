"""Simulated time for the virtual lab: ``sleep`` advances it instantly and lets plants evolve."""

from __future__ import annotations

from collections.abc import Callable


class VirtualClock:
    """A clock whose ``sleep(seconds)`` returns at once after advancing ``now()`` by ``seconds``
    and calling every listener with the elapsed time (s), in registration order."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._listeners: list[Callable[[float], None]] = []

    def now(self) -> float:
        """Simulated time, s."""
        return self._now

    def sleep(self, seconds: float) -> None:
        seconds = float(seconds)
        if seconds < 0:
            raise ValueError(f"seconds={seconds!r} is outside the allowed range [0, inf)")
        self._now += seconds
        for listener in list(self._listeners):
            listener(seconds)

    def add_listener(self, listener: Callable[[float], None]) -> None:
        """Call ``listener(elapsed_s)`` on every ``sleep``."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[float], None]) -> None:
        self._listeners.remove(listener)
