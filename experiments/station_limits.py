"""What a station lets the experiment design choose, in lab units (Hz, K, dB, s).

:class:`StationLimits` holds the ranges of the knobs the lab sets at each operating point (filter
bandwidth and centre, step attenuation, hot-load temperature), how the source reaches the filter
(the step attenuator at its temperature, then the fixed line stages, source first: physics.md "From
the lab to the model"), and the readout's qubit description (frequencies, waveguide linewidths,
T1/T2, residual excitation, link loss), i.e. everything of a
:class:`~thermalink.simulators.lab_units.LabLink` except the settings. It is built from a station
(:meth:`StationLimits.from_lab_station`, :meth:`StationLimits.from_config`) or directly, and it
is a small picklable value, so requirement maps ship it to worker processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from thermalink.drivers.two_qubit_readout import readout_errors_include_decay
from thermalink.simulators.lab_units import READOUT_FIELDS, LabLink, LineStage, ReadoutProtocol, source_occupation
from thermalink.simulators.errors import InputError

if TYPE_CHECKING:
    from .lab_station import LabStation

#: The knobs the design sets at an operating point, in lab units.
KNOBS = ("bandwidth_Hz", "attenuation_dB", "temperature_K", "center_Hz")
KNOB_UNITS = {"bandwidth_Hz": "Hz", "attenuation_dB": "dB", "temperature_K": "K", "center_Hz": "Hz"}
_RANGE_FIELDS = {"bandwidth_Hz": "bandwidth_range_Hz", "temperature_K": "temperature_range_K",
                 "center_Hz": "center_range_Hz"}


def _pair(name: str, value) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise InputError(f"{name}={value!r} must be a finite range (low, high) with low <= high")
    return low, high


@dataclass(frozen=True)
class Settings:
    """One operating point's knob settings (lab units)."""

    bandwidth_Hz: float
    attenuation_dB: float
    temperature_K: float
    center_Hz: float

    def as_dict(self) -> dict[str, float]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True)
class StationLimits:
    """Knob ranges, source line and qubit description of one station (see the module docstring).

    ``attenuation_steps_dB`` lists every step the attenuator can take (a discrete knob);
    ``line_stages`` are the fixed stages after the step attenuator, source first. The hot load's
    range starts at its unheated temperature. ``t1_s``/``t2_s``/``local_occupation``/
    ``link_loss_dB`` follow :class:`~thermalink.simulators.lab_units.LabLink`;
    ``excited_population`` is the measured residual excited population of each qubit (the readout's
    ``residual_excitation``, converted by ``LabLink`` with T1 into the local bath). The per-qubit
    ``qubitj_t1_s``/``qubitj_t2_s``/``qubitj_excited_population`` override the shared values where
    given (``None``: the shared one), as the readout's ``qubitN_t1`` etc. do.

    ``readout_protocol``: the readout's :class:`~thermalink.simulators.lab_units.ReadoutProtocol`
    (frozen or instantaneous; an unfrozen protocol with nonzero times is refused, docs/design.md
    "Design"), and ``assignment_errors_include_readout_decay`` says whether :attr:`readout_errors`
    were measured through it (then nothing is folded in, as in the sweep analysis).
    """

    temperature_range_K: tuple[float, float]
    attenuation_steps_dB: tuple[float, ...]
    bandwidth_range_Hz: tuple[float, float]
    center_range_Hz: tuple[float, float]
    qubit1_frequency_Hz: float
    qubit2_frequency_Hz: float
    qubit1_linewidth_Hz: float
    qubit2_linewidth_Hz: float
    t1_s: float | None = None
    t2_s: float | None = None
    local_occupation: float = 0.0
    excited_population: float | None = None
    link_loss_dB: float = 0.0
    in_coupling: float = 0.5
    attenuator_temperature_K: float = 4.0
    line_stages: tuple[LineStage, ...] = ()
    #: Readout errors q1 P(1|0), q1 P(0|1), q2 P(1|0), q2 P(0|1) (the calibration the estimator uses).
    readout_errors: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    name: str = "station"
    qubit1_t1_s: float | None = None
    qubit2_t1_s: float | None = None
    qubit1_t2_s: float | None = None
    qubit2_t2_s: float | None = None
    qubit1_excited_population: float | None = None
    qubit2_excited_population: float | None = None
    readout_protocol: ReadoutProtocol = ReadoutProtocol()
    assignment_errors_include_readout_decay: bool = False

    def __post_init__(self) -> None:
        for knob, field in _RANGE_FIELDS.items():
            object.__setattr__(self, field, _pair(field, getattr(self, field)))
        if not self.temperature_range_K[0] >= 0:
            raise InputError(f"temperature_range_K={self.temperature_range_K} is outside the allowed range [0, inf) K")
        for field in ("bandwidth_range_Hz", "center_range_Hz"):
            if not getattr(self, field)[0] > 0:
                raise InputError(f"{field}={getattr(self, field)} is outside the allowed range (0, inf) Hz")
        steps = tuple(sorted(float(s) for s in self.attenuation_steps_dB))
        if not steps or not all(math.isfinite(s) and s >= 0 for s in steps):
            raise InputError(f"attenuation_steps_dB={self.attenuation_steps_dB!r} must be one or more steps >= 0 dB")
        object.__setattr__(self, "attenuation_steps_dB", steps)
        object.__setattr__(self, "line_stages", tuple(self.line_stages))
        errors = tuple(float(e) for e in self.readout_errors)
        if len(errors) != 4 or not all(0 <= e < 0.5 for e in errors):
            raise InputError(f"readout_errors={self.readout_errors!r} must be 4 probabilities in [0, 0.5)")
        object.__setattr__(self, "readout_errors", errors)
        if not isinstance(self.readout_protocol, ReadoutProtocol):
            raise InputError(f"readout_protocol={self.readout_protocol!r} must be a ReadoutProtocol")
        if not (self.readout_protocol.freeze or self.readout_protocol.is_instantaneous):
            raise InputError(
                f"readout_protocol={self.readout_protocol!r}: the design needs a frozen readout (freeze=True) "
                "or an instantaneous one (prerotation_time and integration_time 0); unfrozen, the link keeps "
                "acting after the pulse and the tomography does not estimate the state at the pulse: set the "
                "readout's freeze: true"
            )
        object.__setattr__(self, "assignment_errors_include_readout_decay",
                           bool(self.assignment_errors_include_readout_decay))
        self.lab_link(self.centre_settings()).to_parameters()  # the qubit description must make sense to the twin

    # -- the twin's view of a setting -----------------------------------------------------------
    def stages(self, attenuation_dB: float) -> list[LineStage]:
        """Line from the hot load to the filter: the step attenuator, then the fixed stages."""
        return [LineStage(float(attenuation_dB), self.attenuator_temperature_K), *self.line_stages]

    def occupation(self, temperature_K: float, attenuation_dB: float, center_Hz: float) -> float:
        """``n_source`` at the filter input for these settings (physics.md's line budget)."""
        return source_occupation(temperature_K, center_Hz, self.stages(attenuation_dB))

    def lab_link(self, settings: Settings) -> LabLink:
        """The :class:`LabLink` of an operating point of this station."""
        return LabLink(
            bandwidth_Hz=settings.bandwidth_Hz,
            source_occupation=self.occupation(settings.temperature_K, settings.attenuation_dB, settings.center_Hz),
            filter_center_Hz=settings.center_Hz,
            qubit1_frequency_Hz=self.qubit1_frequency_Hz,
            qubit2_frequency_Hz=self.qubit2_frequency_Hz,
            qubit1_linewidth_Hz=self.qubit1_linewidth_Hz,
            qubit2_linewidth_Hz=self.qubit2_linewidth_Hz,
            in_coupling=self.in_coupling,
            link_loss_dB=self.link_loss_dB,
            t1_s=self.t1_s,
            t2_s=self.t2_s,
            local_occupation=self.local_occupation,
            qubit1_t1_s=self.qubit1_t1_s,
            qubit2_t1_s=self.qubit2_t1_s,
            qubit1_t2_s=self.qubit1_t2_s,
            qubit2_t2_s=self.qubit2_t2_s,
            qubit1_excited_population=self.qubit_value("excited_population", 1),
            qubit2_excited_population=self.qubit_value("excited_population", 2),
            **{field: getattr(self.readout_protocol, name) for name, field in READOUT_FIELDS.items()},
        )

    def qubit_value(self, name: str, j: int) -> float | None:
        """Qubit ``j``'s ``name`` (``"t1_s"``, ``"t2_s"``, ``"excited_population"``): its own
        ``qubitj_<name>``, else the shared one (``None`` for T1/T2: waveguide-limited / 2 T1)."""
        own = getattr(self, f"qubit{j}_{name}")
        return own if own is not None else getattr(self, name)

    def centre_settings(self) -> Settings:
        """A valid setting in the middle of every range (geometric for the bandwidth)."""
        return Settings(
            bandwidth_Hz=math.sqrt(self.bandwidth_range_Hz[0] * self.bandwidth_range_Hz[1]),
            attenuation_dB=self.attenuation_steps_dB[0],
            temperature_K=float(np.mean(self.temperature_range_K)),
            center_Hz=float(np.clip(self.qubit_midpoint_Hz, *self.center_range_Hz)),
        )

    def assignment_matrices(self) -> np.ndarray:
        """Per-qubit ``A[q][i, j] = P(read i | state j)`` from :attr:`readout_errors`, shape (2, 2, 2)
        (the station's errors as they are; the tomography's are :meth:`measured_state`'s)."""
        e = self.readout_errors
        return np.array([[[1 - e[0], e[1]], [e[0], 1 - e[1]]], [[1 - e[2], e[3]], [e[2], 1 - e[3]]]])

    def measured_state(self, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
        """What the tomography at ``settings`` estimates: the twin's state at the pulse (4x4,
        :func:`~thermalink.simulators.virtual_lab.twin_cache.twin_measured_state`) and the per-qubit
        assignment matrices ``(2, 2, 2)`` it reads it with (the station's errors with the frozen
        decay after the pulse folded in unless they already hold it:
        :func:`~thermalink.experiments.sweep_analysis.protocol_assignment`, as a run without a
        stored calibration is analysed; a calibration measured through the protocol gives the same)."""
        from thermalink.simulators.virtual_lab.twin_cache import twin_measured_state

        from .sweep_analysis import protocol_assignment

        measured = twin_measured_state(self.lab_link(settings))
        assignment, _ = protocol_assignment(measured, self.assignment_matrices(), None, None,
                                            self.assignment_errors_include_readout_decay)
        return measured.rho, np.asarray(assignment)

    @property
    def qubit_midpoint_Hz(self) -> float:
        """Filter centre of the dark-state condition ``delta1 = -delta2``."""
        return 0.5 * (self.qubit1_frequency_Hz + self.qubit2_frequency_Hz)

    @property
    def waveguide_t1_s(self) -> float:
        """The T1 the waveguide alone allows, ``1 / (2 pi max linewidth)``: the ideal qubit."""
        return 1.0 / (2 * math.pi * max(self.qubit1_linewidth_Hz, self.qubit2_linewidth_Hz))

    # -- changing it ------------------------------------------------------------------------------
    def restricted(
        self,
        bandwidth_Hz: tuple[float, float] | None = None,
        temperature_K: tuple[float, float] | None = None,
        center_Hz: tuple[float, float] | None = None,
        attenuation_dB: tuple[float, float] | None = None,
    ) -> "StationLimits":
        """The same station with narrower knob ranges; ValueError if a range leaves the station's."""
        changes: dict = {}
        for knob, given in (("bandwidth_Hz", bandwidth_Hz), ("temperature_K", temperature_K), ("center_Hz", center_Hz)):
            if given is None:
                continue
            low, high = _pair(knob, given)
            allowed = getattr(self, _RANGE_FIELDS[knob])
            if not allowed[0] <= low <= high <= allowed[1]:
                raise InputError(
                    f"{knob} range [{low:.6g}, {high:.6g}] {KNOB_UNITS[knob]} is outside the station's allowed "
                    f"range [{allowed[0]:.6g}, {allowed[1]:.6g}] {KNOB_UNITS[knob]}"
                )
            changes[_RANGE_FIELDS[knob]] = (low, high)
        if attenuation_dB is not None:
            low, high = _pair("attenuation_dB", attenuation_dB)
            steps = self.attenuation_steps_dB
            if not steps[0] <= low <= high <= steps[-1]:
                raise InputError(
                    f"attenuation_dB range [{low:g}, {high:g}] dB is outside the station's allowed range "
                    f"[{steps[0]:g}, {steps[-1]:g}] dB"
                )
            kept = tuple(s for s in steps if low - 1e-9 <= s <= high + 1e-9)
            if not kept:
                raise InputError(f"attenuation_dB range [{low:g}, {high:g}] dB holds none of the steps {steps}")
            changes["attenuation_steps_dB"] = kept
        return replace(self, **changes)

    def replaced(self, **changes) -> "StationLimits":
        """A copy with other fields changed (validated again)."""
        return replace(self, **changes)

    # -- from a station ---------------------------------------------------------------------------
    @classmethod
    def from_lab_station(cls, lab: "LabStation") -> "StationLimits":
        """Read the limits from a loaded station (nothing is set or moved).

        Ranges come from the parts' validators and range constants: the filter's ``bandwidth`` and
        ``center_frequency`` validators, the attenuator's ``ATTENUATION_RANGE_DB`` and
        ``ATTENUATION_STEP_DB``, the source's ``max_temperature``; the hot load's lowest
        temperature is its ``stage_temperature`` where it has one (the virtual load), else its
        current reading. The qubits (per-qubit T1, T2, residual excitation) and the readout protocol
        are the readout's ``lab_link``; ``assignment_errors_include_readout_decay`` its parameter.
        """
        source = lab.source
        tunable_filter = source.part("tunable_filter")
        attenuator = source.part("attenuator")
        bandwidth = tunable_filter.bandwidth.vals
        center = tunable_filter.center_frequency.vals
        try:
            att_low, att_high = attenuator.ATTENUATION_RANGE_DB
            att_step = attenuator.ATTENUATION_STEP_DB
        except AttributeError:
            raise InputError(
                f"attenuator {attenuator.name!r} ({type(attenuator).__name__}) does not state ATTENUATION_RANGE_DB "
                "and ATTENUATION_STEP_DB; the design needs its steps") from None
        steps = tuple(float(s) for s in np.arange(att_low, att_high + 0.5 * att_step, att_step))
        hot_load = source.part("hot_load")
        if "stage_temperature" in hot_load.parameters:
            coldest = float(hot_load.stage_temperature())
        else:
            coldest = float(source.temperature())
        hottest = float(source.max_temperature())
        link = lab.lab_link()
        own = {f"qubit{j}_{kind}_s": getattr(link, f"qubit{j}_{kind}_s") for j in (1, 2) for kind in ("t1", "t2")}
        include_decay = readout_errors_include_decay(lab.readout)
        assignment = lab.assignment()
        errors = tuple(float(v) for q in (0, 1) for v in (assignment[q][1, 0], assignment[q][0, 1]))
        return cls(
            temperature_range_K=(min(coldest, hottest), hottest),
            attenuation_steps_dB=steps,
            bandwidth_range_Hz=(float(bandwidth.min_value), float(bandwidth.max_value)),
            center_range_Hz=(float(center.min_value), float(center.max_value)),
            qubit1_frequency_Hz=link.qubit1_frequency_Hz,
            qubit2_frequency_Hz=link.qubit2_frequency_Hz,
            qubit1_linewidth_Hz=link.qubit1_linewidth_Hz,
            qubit2_linewidth_Hz=link.qubit2_linewidth_Hz,
            t1_s=link.t1_s,
            t2_s=link.t2_s,
            local_occupation=link.local_occupation,
            excited_population=link.qubit1_excited_population,
            link_loss_dB=link.link_loss_dB,
            in_coupling=link.in_coupling,
            attenuator_temperature_K=float(source.attenuator_temperature()),
            line_stages=tuple(source.lab_stages()[1:]),
            readout_errors=errors,
            name=lab.sample_name,
            **own,
            qubit2_excited_population=(None if link.qubit2_excited_population == link.qubit1_excited_population
                                       else link.qubit2_excited_population),
            readout_protocol=link.readout_protocol,
            assignment_errors_include_readout_decay=include_decay,
        )

    @classmethod
    def from_config(cls, config: str | Path | None = None) -> "StationLimits":
        """Load a station YAML (default: the simulated station), read its limits, close it again."""
        import qcodes

        from .lab_station import LabStation

        lab = LabStation.from_config(config)
        try:
            return cls.from_lab_station(lab)
        finally:
            lab.station.close_all_registered_instruments()
            qcodes.Station.default = None
