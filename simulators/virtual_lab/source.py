"""The filtered thermal source of the virtual lab: the real meta-instrument on a virtual clock.

:class:`VirtualFilteredThermalSource` *is* a :class:`~thermalink.drivers.thermal_source.
FilteredThermalSource` (same parameters, ramp, interlocks) whose waits advance a
:class:`~thermalink.simulators.virtual_lab.clock.VirtualClock`; every wait lets the virtual hot load
(:class:`~thermalink.simulators.virtual_lab.lakeshore.VirtualLakeshoreModel336`) evolve, so a ramp
that takes half an hour in the lab takes milliseconds here.
"""

from __future__ import annotations

from typing import Any

from thermalink.drivers.thermal_source import FilteredThermalSource, RoomTemperatureThermalSource

from .clock import VirtualClock


class VirtualFilteredThermalSource(FilteredThermalSource):
    """``FilteredThermalSource`` on simulated time (``clock`` is a :class:`VirtualClock`)."""

    def __init__(self, name: str, *args: Any, clock: VirtualClock | None = None, **kwargs: Any) -> None:
        super().__init__(name, *args, clock=clock if clock is not None else VirtualClock(), **kwargs)
        self.clock.add_listener(self._advance_parts)

    def _advance_parts(self, seconds: float) -> None:
        hot_load = self.part("hot_load")
        advance = getattr(hot_load, "advance", None)
        if advance is not None:
            advance(seconds)

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (the hot load keeps evolving)."""
        self.clock.sleep(seconds)


class VirtualRoomTemperatureSource(VirtualFilteredThermalSource, RoomTemperatureThermalSource):
    """``RoomTemperatureThermalSource`` (hot load outside the cryostat, up to 400 K) on simulated time."""
