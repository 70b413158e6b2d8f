"""The station as the sweep runner sees it: set, wait, measure, read back, make safe.

:class:`LabStation` wraps a QCoDeS station that holds ``source`` (a ``FilteredThermalSource``),
``readout`` (a ``TwoQubitReadout``) and optionally ``fridge``; it works the same on the simulated
station (the default) and on a real one. Settings are in lab units (Hz, K, dB).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import qcodes

from thermalink.simulators.errors import InputError
from thermalink.simulators.virtual_lab.twin_cache import twin_relaxation_time_s
from thermalink.simulators.lab_units import LabLink
from thermalink.station_configs import station_config_path

from .station_fingerprint import StationFingerprint, station_fingerprint
from .sweep_plan import SOURCE_SETTINGS, SweepPlan

REQUIRED_INSTRUMENTS = ("source", "readout")
#: Source settings that enter the twin's lab description directly.
_LINK_FIELDS = {"bandwidth": "bandwidth_Hz", "center_frequency": "filter_center_Hz"}
#: Longest stretch of a settle wait without the source's hold watchdog (mixing chamber), s.
HOLD_CHECK_S = 5.0
#: Order in which a point's settings are applied: the slow temperature ramp first.
APPLY_ORDER = ("temperature", "attenuation", "center_frequency", "bandwidth")


def load_station(config: str | Path | None = None) -> qcodes.Station:
    """Load a station YAML (default: the bundled simulated station) and its instruments."""
    path = station_config_path("simulated") if config is None else Path(config)
    if not path.is_file():
        raise InputError(f"station file {str(path)!r} does not exist")
    try:
        station = qcodes.Station(config_file=str(path))
    except Exception as error:  # noqa: BLE001 - YAML and schema errors come in many types
        raise InputError(f"station file {str(path)!r} could not be read: {error}") from error
    declared = set(station.config.get("instruments", {}) if station.config else {})
    missing = [name for name in REQUIRED_INSTRUMENTS if name not in declared]
    if missing:
        raise InputError(
            f"station file {str(path)!r} lacks the instruments {missing}; it declares {sorted(declared)}"
        )
    for name in (*REQUIRED_INSTRUMENTS, "fridge"):
        if name in declared and name not in station.components:
            try:
                station.load_instrument(name)
            except Exception as error:  # noqa: BLE001 - VISA, LabOne and driver errors alike
                raise InputError(f"station file {str(path)!r}: instrument {name!r} could not be opened: "
                                 f"{type(error).__name__}: {error}") from error
    qcodes.Station.default = station
    return station


class LabStation:
    """What the sweep runner needs from a station (lab units at this boundary).

    ``fingerprint`` identifies the station file it was built from (``None`` if built from a
    station object); new runs store it and resumed runs are checked against it.
    """

    def __init__(self, station: qcodes.Station, sample_name: str = "simulated",
                 fingerprint: StationFingerprint | None = None):
        self.station = station
        self.fingerprint = fingerprint
        self.source = station.components["source"]
        self.readout = station.components["readout"]
        self.fridge = station.components.get("fridge")
        self.sample_name = sample_name

    @classmethod
    def from_config(cls, config: str | Path | None = None) -> "LabStation":
        sample = "simulated" if config is None else Path(config).stem
        fingerprint = station_fingerprint(station_config_path("simulated") if config is None else config)
        return cls(load_station(config), sample_name=sample, fingerprint=fingerprint)

    # -- before anything moves --------------------------------------------------------------
    def validate_plan(self, plan: SweepPlan) -> None:
        """Check every point against the instruments' limits; ValueError names point and value."""
        for index, point in enumerate(plan.points):
            for name, value in point.items():
                parameter = self.source.parameters[name]
                try:
                    parameter.validate(value)
                except (ValueError, TypeError) as error:
                    raise InputError(
                        f"point {index}: {name}={value} {SOURCE_SETTINGS[name]} is rejected by "
                        f"{parameter.full_name}: {error}"
                    ) from None
        try:
            self.readout.shots.validate(plan.shots)
        except (ValueError, TypeError) as error:
            raise InputError(f"shots={plan.shots} is rejected by {self.readout.shots.full_name}: {error}") from None
        # Every point must also make sense to the twin (qubit parameters, linewidths, ...).
        link = self.lab_link()
        for index, point in enumerate(plan.points):
            changes = {field: point[name] for name, field in _LINK_FIELDS.items() if name in point}
            try:
                replace(link, **changes).to_parameters()
            except ValueError as error:
                raise InputError(f"point {index}: the twin cannot describe this operating point: {error}") from None

    # -- one point ------------------------------------------------------------------------------
    def apply(self, point: dict) -> None:
        for name in APPLY_ORDER:
            if name in point:
                self.source.parameters[name](point[name])
        self.source.output(True)

    def settle_time(self, plan: SweepPlan) -> float:
        """Fixed ``plan.settle_s``, or ``settle_factor`` times the twin's relaxation time (s)."""
        if plan.settle_s is not None:
            return float(plan.settle_s)
        return plan.settle_factor * twin_relaxation_time_s(self.lab_link())

    def wait(self, seconds: float) -> None:
        """Wait ``seconds`` for the qubits to settle, running the source's hold watchdog at least
        every :data:`HOLD_CHECK_S` (InterlockError, source safe, if the fridge warms meanwhile)."""
        settle = getattr(self.readout, "settle", None)
        slices = max(1, math.ceil(seconds / HOLD_CHECK_S))
        for _ in range(slices):
            if settle is not None:
                settle(seconds / slices)
            else:
                time.sleep(seconds / slices)
            self.check_hold()

    def check_hold(self) -> None:
        """The source's hold watchdog (:meth:`FilteredThermalSource.check_hold`), if it has one."""
        check = getattr(self.source, "check_hold", None)
        if check is not None:
            check()

    def measure(self, settings, shots: int, seed: int | None = None):
        """Tomography counts; the hold watchdog runs afterwards, so a point measured while the
        fridge warmed is never saved."""
        if seed is not None and "seed" in self.readout.parameters:
            self.readout.seed(seed)
        counts = self.readout.measure(settings, shots)
        self.check_hold()
        return counts

    def measure_prepared(self, shots: int, seed: int | None = None):
        """Counts ``(prepared, outcome)`` of the four computational basis states (readout calibration)."""
        if seed is not None and "seed" in self.readout.parameters:
            self.readout.seed(seed)
        return self.readout.measure_prepared(shots=shots)

    def instrument(self, name: str):
        """The station instrument ``name`` (e.g. ``"spectrum_analyzer"``), loaded if only declared;
        ValueError if the station file does not declare it."""
        if name in self.station.components:
            return self.station.components[name]
        declared = self.station.config.get("instruments", {}) if self.station.config else {}
        if name not in declared:
            raise InputError(f"the station has no instrument {name!r}; it declares {sorted(declared)}")
        return self.station.load_instrument(name)

    def readback(self) -> dict:
        values = {name: float(self.source.parameters[name]()) for name in SOURCE_SETTINGS}
        values["occupation"] = float(self.source.occupation())
        if "mixing_chamber_temperature" in self.source.parameters:
            values["mxc_temperature"] = float(self.source.mixing_chamber_temperature())
        return values

    def lab_link(self) -> LabLink:
        return self.readout.lab_link(self.source)

    def assignment(self) -> np.ndarray:
        """Per-qubit assignment matrices ``(2, 2, 2)``: ``A[q][i, j] = P(read i | state j)``."""
        return np.array(self.readout.assignment_matrices())

    def safe_state(self) -> None:
        self.source.safe_state()

    def snapshot(self) -> dict:
        return self.station.snapshot(update=False)

    def close(self) -> None:
        """Close every instrument of the station (e.g. when the session that opened it ends)."""
        self.station.close_all_registered_instruments()
        if qcodes.Station.default is self.station:
            qcodes.Station.default = None
