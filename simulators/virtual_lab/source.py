"""The filtered thermal source of the virtual lab: the real meta-instrument on a virtual clock.

:class:`VirtualFilteredThermalSource` *is* a :class:`~thermalink.drivers.thermal_source.
FilteredThermalSource` (same parameters, ramp, interlocks) whose waits advance a
:class:`~thermalink.simulators.virtual_lab.clock.VirtualClock`; every wait lets the virtual hot load
(:class:`~thermalink.simulators.virtual_lab.lakeshore.VirtualLakeshoreModel336`) evolve, so a ramp
that takes half an hour in the lab takes milliseconds here.

The hot load's sensor reading lags its heater setpoint (an exponential approach, see
:mod:`.lakeshore`), so after a ramp it sits anywhere within ``temperature_tolerance`` of the
target, by an amount that depends on where the ramp started (the run's history: a resumed run
starts from a load that cooled while it was stopped). :meth:`VirtualFilteredThermalSource.
settled_occupation` is what the virtual qubits see: **decision:** once the load is settled (within
``temperature_tolerance`` of the temperature it is controlled to: the setpoint in closed loop, the
stage temperature with the heater off) the load is taken to be *at* that temperature (a closed
loop holds it there; the lag model is only the approach), so the twin state behind the counts is
a function of the operating point alone and a resumed run reproduces an uninterrupted one. The
read-backs (``temperature``, ``occupation``) and every settle and safety check keep using the
sensor reading.
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

    def controlled_temperature(self) -> float:
        """The temperature the hot load is driven to, K: the heater setpoint in closed loop with a
        range on (not below the stage), else the stage temperature."""
        hot_load = self.part("hot_load")
        heater = self.heater
        stage = float(hot_load.stage_temperature()) if "stage_temperature" in hot_load.parameters else 0.0
        if heater.mode() == "closed_loop" and heater.output_range() != "off":
            return max(stage, float(heater.setpoint()))
        return stage

    def settled_temperature(self) -> float:
        """The controlled temperature once the reading is within ``temperature_tolerance`` of it,
        else the reading, K (module docstring)."""
        reading = float(self.temperature())
        controlled = self.controlled_temperature()
        return controlled if abs(reading - controlled) <= float(self.temperature_tolerance()) else reading

    def settled_occupation(self) -> float:
        """``occupation`` at :meth:`settled_temperature` (0 with the output off): what the virtual
        qubits see."""
        return self.occupation_at(self.settled_temperature())

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (the hot load keeps evolving)."""
        self.clock.sleep(seconds)


class VirtualRoomTemperatureSource(VirtualFilteredThermalSource, RoomTemperatureThermalSource):
    """``RoomTemperatureThermalSource`` (hot load outside the cryostat, up to 400 K) on simulated time."""
