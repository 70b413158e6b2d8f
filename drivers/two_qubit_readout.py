"""``TwoQubitReadout``: one interface to two-qubit tomography counts, real (ZI) and virtual.

Counts follow the tomography convention of thermalink: an ``xarray.DataArray`` of ints with dims
``("setting", "outcome")``. ``setting`` holds two-letter strings over ``X, Y, Z`` (qubit 1's basis
first; default the 9 Pauli settings ``"XX" .. "ZZ"``), ``outcome`` holds ``"00", "01", "10", "11"``
(qubit 1's bit first). Bit 0 in basis P is the +1 eigenstate of P (for Z: the ground state |g>).

Readout assignment matrices are per qubit ``A[i, j] = P(read i | state j)``, built from the
calibrated error probabilities stored as parameters (``qubitN_p1_given_0`` = P(read 1 | |0>),
``qubitN_p0_given_1`` = P(read 0 | |1>)).

Readout calibration counts (:meth:`TwoQubitReadout.measure_prepared`) have dims
``("prepared", "outcome")``: ``prepared`` holds the computational basis states the qubits were
prepared in, two bits with qubit 1's bit first (1 = excited, prepared by a pi pulse on that qubit),
each measured in Z, Z, so ``counts[j, i] / shots`` estimates ``P(read i | state j)``.

Subclasses implement :meth:`TwoQubitReadout._acquire` and :meth:`TwoQubitReadout._acquire_prepared`;
everything else (validation, the counts ``ParameterWithSetpoints`` for datasets, the lab
description of the operating point for the twin) lives here.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from qcodes import validators as vals
from qcodes.instrument import Instrument
from qcodes.parameters import Parameter, ParameterWithSetpoints

from thermalink.simulators.conventions import (  # the one home of the conventions
    BASIS_STATES,
    OUTCOMES,
    PAULI_SETTINGS,
    counts_array,
    validate_basis_states,
    validate_settings,
)
from thermalink.simulators.errors import InputError
from thermalink.simulators.lab_units import READOUT_TIME_RANGES_S, LabLink

from .lab_clock import Clock, WallClock

#: The computational basis states a readout calibration prepares (same labels as the outcomes).
#: Largest number of shots per setting one acquisition accepts.
MAX_SHOTS = 10_000_000


def validate_shots(shots: int, maximum: int = MAX_SHOTS) -> int:
    """Shots per setting as an int in [1, maximum]; ValueError otherwise."""
    if isinstance(shots, bool) or not float(shots).is_integer() or not 1 <= shots <= maximum:
        raise InputError(f"shots={shots!r} is outside the allowed range: integers in [1, {maximum}]")
    return int(shots)


def setting_codes(settings: Sequence[str]) -> np.ndarray:
    """Integer code ``3 i1 + i2`` (X, Y, Z = 0, 1, 2) of each setting: ``"XX"`` = 0 .. ``"ZZ"`` = 8."""
    return np.array([3 * "XYZ".index(s[0]) + "XYZ".index(s[1]) for s in validate_settings(settings)], dtype=np.int64)


def counts_from_codes(counts: np.ndarray, codes: Sequence[int], **attrs: Any) -> xr.DataArray:
    """The counts DataArray from a stored ``(n, 4)`` record and its ``setting_code`` axis."""
    settings = ["XYZ"[int(code) // 3] + "XYZ"[int(code) % 3] for code in np.asarray(codes).ravel()]
    return counts_array(np.asarray(counts), settings, **attrs)


#: The readout parameter (and station key) stating whether its ``assignment_errors`` were measured
#: through the readout protocol (they then hold the decay after the pulse).
INCLUDES_DECAY_PARAMETER = "assignment_errors_include_readout_decay"


def readout_errors_include_decay(readout: Any, default: bool = False) -> bool:
    """The readout's ``assignment_errors_include_readout_decay``, or ``default`` for a readout
    without that parameter."""
    parameters = getattr(readout, "parameters", {})
    return bool(parameters[INCLUDES_DECAY_PARAMETER]()) if INCLUDES_DECAY_PARAMETER in parameters else default


def assignment_matrix(p1_given_0: float, p0_given_1: float) -> np.ndarray:
    """2x2 ``A[i, j] = P(read i | state j)`` from the two error probabilities."""
    return np.array([[1.0 - p1_given_0, p0_given_1], [p1_given_0, 1.0 - p0_given_1]])


class TwoQubitReadout(Instrument):
    """Abstract two-qubit tomography readout.

    Parameters (units): ``qubit1_frequency``, ``qubit2_frequency`` (Hz), ``qubit1_linewidth``,
    ``qubit2_linewidth`` (Hz, waveguide decay ``gamma/2pi``), ``t1``, ``t2`` (s, both qubits;
    ``None`` if not measured), ``residual_excitation`` (measured excited population of each qubit
    with the source off; the twin derives each local bath's occupation from it, T1 and the linewidth),
    ``qubitN_t1``, ``qubitN_t2`` (s), ``qubitN_residual_excitation`` (per qubit; ``None``: the shared
    value), the readout protocol the twin models (:class:`~thermalink.simulators.lab_units.
    ReadoutProtocol`: ``freeze`` (bool), ``freeze_time``, ``prerotation_time``, ``integration_time``
    (s) and ``readout_decay_fraction``),
    ``link_loss`` (dB, waveguide loss between the qubits), ``qubitN_p1_given_0``,
    ``qubitN_p0_given_1`` (readout error probabilities), ``assignment_errors_include_readout_decay``
    (bool: whether those errors were measured through the readout protocol, so already hold its decay
    after the pulse, or are the discriminator's own; default False), ``settings`` and ``shots`` (what
    ``counts`` acquires), the axes ``setting_code`` (:func:`setting_codes`: ``3 i1 + i2`` with
    X, Y, Z = 0, 1, 2, so ``"XX"`` = 0 .. ``"ZZ"`` = 8) and ``outcome_index`` (``2 b1 + b2``), and
    ``counts`` (``ParameterWithSetpoints``, shape ``(len(settings), 4)``, for QCoDeS datasets;
    :func:`counts_from_codes` turns a stored record back into the counts DataArray).

    Methods: :meth:`measure`, :meth:`measure_prepared`, :meth:`assignment_matrices`,
    :meth:`lab_link`, :meth:`settle`.
    """

    #: Most shots per setting one acquisition takes (the hardware's result memory may set less).
    max_shots: int = MAX_SHOTS
    #: Protocol times a hardware driver derives from its own pulse parameters (time name -> parameter
    #: name): read-only, one source of truth (the SHFQC+: ``prerotation_time`` = ``drive_pulse_length``).
    protocol_times_from: dict[str, str] = {}

    def __init__(
        self,
        name: str,
        *,
        qubit1_frequency: float = 6.0e9,
        qubit2_frequency: float = 6.0e9,
        qubit1_linewidth: float = 1.0e6,
        qubit2_linewidth: float = 1.0e6,
        t1: float | None = None,
        t2: float | None = None,
        residual_excitation: float = 0.0,
        link_loss: float = 0.0,
        assignment_errors: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        shots: int = 2000,
        clock: Clock | None = None,
        qubit1_t1: float | None = None,
        qubit2_t1: float | None = None,
        qubit1_t2: float | None = None,
        qubit2_t2: float | None = None,
        qubit1_residual_excitation: float | None = None,
        qubit2_residual_excitation: float | None = None,
        freeze: bool = False,
        freeze_time: float = 0.0,
        prerotation_time: float = 0.0,
        integration_time: float = 0.0,
        readout_decay_fraction: float = 0.5,
        assignment_errors_include_readout_decay: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.clock: Clock = clock if clock is not None else WallClock()
        for j, frequency in ((1, qubit1_frequency), (2, qubit2_frequency)):
            self.add_parameter(
                f"qubit{j}_frequency",
                label=f"Qubit {j} frequency",
                unit="Hz",
                set_cmd=None,
                vals=vals.Numbers(1e9, 20e9),
                initial_value=frequency,
                docstring=f"Transition frequency of qubit {j}, Hz.",
            )
        for j, linewidth in ((1, qubit1_linewidth), (2, qubit2_linewidth)):
            self.add_parameter(
                f"qubit{j}_linewidth",
                label=f"Qubit {j} waveguide linewidth",
                unit="Hz",
                set_cmd=None,
                vals=vals.Numbers(1e3, 1e9),
                initial_value=linewidth,
                docstring=f"Decay rate of qubit {j} into the waveguide, gamma/2pi in Hz.",
            )
        optional_time = vals.MultiType(vals.Numbers(1e-12, 1.0), vals.Enum(None))
        self.add_parameter(
            "t1",
            label="T1",
            unit="s",
            set_cmd=None,
            vals=optional_time,
            initial_value=t1,
            docstring="Measured energy relaxation time of the qubits (both), s; None if unknown.",
        )
        self.add_parameter(
            "t2",
            label="T2 (Ramsey)",
            unit="s",
            set_cmd=None,
            vals=optional_time,
            initial_value=t2,
            docstring="Measured Ramsey coherence time of the qubits (both), s; None if unknown.",
        )
        self.add_parameter(
            "residual_excitation",
            label="Residual excitation",
            unit="",
            set_cmd=None,
            vals=vals.Numbers(0.0, 1.0),
            initial_value=residual_excitation,
            docstring="Measured excited population of each qubit with the source off (not the bath occupation).",
        )
        per_qubit = {"t1": (qubit1_t1, qubit2_t1), "t2": (qubit1_t2, qubit2_t2),
                     "residual_excitation": (qubit1_residual_excitation, qubit2_residual_excitation)}
        for quantity, values in per_qubit.items():
            for j, value in zip((1, 2), values):
                excitation = quantity == "residual_excitation"
                self.add_parameter(
                    f"qubit{j}_{quantity}",
                    label=f"Qubit {j} " + ("residual excitation" if excitation else quantity.upper()),
                    unit="" if excitation else "s",
                    set_cmd=None,
                    vals=vals.MultiType(vals.Numbers(0.0, 1.0), vals.Enum(None)) if excitation else optional_time,
                    initial_value=value,
                    docstring=f"Qubit {j}'s own {quantity} ("
                    + ("measured excited population, source off" if excitation else "s")
                    + f"); None: the shared `{quantity}`.",
                )
        self.freeze: Parameter = self.add_parameter(
            "freeze",
            label="Freeze before readout",
            set_cmd=None,
            vals=vals.Bool(),
            initial_value=bool(freeze),
            docstring="Whether each shot first decouples the qubits from the waveguide (tunable coupler or "
            "fast detuning), so that only their local baths act during the pre-rotation and the readout.",
        )
        timing = {"freeze_time": (freeze_time, "Freeze step (before the pre-rotation)"),
                  "prerotation_time": (prerotation_time, "Pre-rotation pulse window"),
                  "integration_time": (integration_time, "Readout integration window")}
        for pname, (value, label) in timing.items():
            low, high = READOUT_TIME_RANGES_S[f"{pname}_s"]
            follows = self.protocol_times_from.get(pname)
            if follows is not None:
                self._add_derived_time(pname, label, value, follows)
                continue
            self.add_parameter(
                pname, label=label, unit="s", set_cmd=None, vals=vals.Numbers(low, high), initial_value=value,
                docstring=f"{label}, s, as the twin models the readout (0: instantaneous).",
            )
        self.readout_decay_fraction: Parameter = self.add_parameter(
            "readout_decay_fraction",
            label="Readout decay fraction",
            unit="",
            set_cmd=None,
            vals=vals.Numbers(0.0, 1.0),
            initial_value=readout_decay_fraction,
            docstring="Fraction of the integration window after which the state counts as projected.",
        )
        self.add_parameter(
            "link_loss",
            label="Link loss",
            unit="dB",
            set_cmd=None,
            vals=vals.Numbers(0.0, 60.0),
            initial_value=link_loss,
            docstring="Power loss of the waveguide between qubit 1 and qubit 2, dB.",
        )
        if len(assignment_errors) != 4:
            raise InputError(
                f"assignment_errors={assignment_errors!r} must hold 4 probabilities: "
                "qubit1 P(1|0), qubit1 P(0|1), qubit2 P(1|0), qubit2 P(0|1)"
            )
        names = ("qubit1_p1_given_0", "qubit1_p0_given_1", "qubit2_p1_given_0", "qubit2_p0_given_1")
        for pname, value in zip(names, assignment_errors):
            qubit, read, state = pname.removeprefix("qubit").replace("_p", " ").replace("_given_", " ").split()
            self.add_parameter(
                pname,
                label=f"Qubit {qubit} P(read {read} | {state})",
                unit="",
                set_cmd=None,
                vals=vals.Numbers(0.0, 0.5),
                initial_value=float(value),
                docstring=f"Readout error probability of qubit {qubit}: P(read {read} | state {state}).",
            )
        self.assignment_errors_include_readout_decay: Parameter = self.add_parameter(
            "assignment_errors_include_readout_decay",
            label="Assignment errors include the readout decay",
            set_cmd=None,
            vals=vals.Bool(),
            initial_value=bool(assignment_errors_include_readout_decay),
            docstring="What the qubitN_p*_given_* errors are. False: the discriminator's own errors "
            "(datasheet, threshold), the analysis folds the protocol's decay after the pulse in. True: measured "
            "through the readout protocol (prepared basis states, pi pulses, then the readout, as "
            "`calibrate readout --apply` writes them): they already hold that decay.",
        )
        self.settings: Parameter = self.add_parameter(
            "settings",
            label="Tomography settings",
            set_cmd=self._set_settings,
            get_cmd=None,
            initial_cache_value=PAULI_SETTINGS,
            docstring="Settings acquired by `counts`: two-letter strings over X, Y, Z.",
        )
        self.shots: Parameter = self.add_parameter(
            "shots",
            label="Shots per setting",
            set_cmd=None,
            vals=vals.Ints(1, self.max_shots),
            initial_value=shots,
            docstring="Single shots per setting acquired by `counts`.",
        )
        def n_settings() -> int:
            return len(self.settings())

        self.setting_code: Parameter = self.add_parameter(
            "setting_code",
            label="Setting code (3 i1 + i2, X,Y,Z = 0,1,2)",
            get_cmd=lambda: setting_codes(self.settings()),
            set_cmd=False,
            vals=vals.Arrays(shape=(n_settings,), valid_types=(np.integer,)),
            docstring="Code of each setting of `settings()`: 3 i1 + i2 with X, Y, Z = 0, 1, 2.",
        )
        self.outcome_index: Parameter = self.add_parameter(
            "outcome_index",
            label="Outcome (2 b1 + b2)",
            get_cmd=lambda: np.arange(len(OUTCOMES)),
            set_cmd=False,
            vals=vals.Arrays(shape=(len(OUTCOMES),)),
            docstring="Outcome index 2*b1 + b2 for outcomes '00', '01', '10', '11'.",
        )
        self.counts: ParameterWithSetpoints = self.add_parameter(
            "counts",
            label="Tomography counts",
            parameter_class=ParameterWithSetpoints,
            get_cmd=lambda: self.measure(self.settings(), self.shots()).values,
            set_cmd=False,
            setpoints=(self.setting_code, self.outcome_index),
            snapshot_get=False,
            snapshot_value=False,
            vals=vals.Arrays(shape=(n_settings, len(OUTCOMES)), valid_types=(np.integer,)),
            docstring="Counts of shape (len(settings), 4) for `settings()` with `shots()` shots each.",
        )

    def _add_derived_time(self, pname: str, label: str, value: float, follows: str) -> None:
        """A protocol time that is the pulse parameter ``follows`` of the hardware (read-only here)."""
        where = f"set `{follows}` instead (station file: instruments.{self.name}.parameters.{follows}.initial_value)"
        if value != 0.0:
            raise InputError(f"{pname}={value!r}: on {type(self).__name__} the readout protocol's {pname} is its pulse "
                             f"parameter `{follows}` (one setting of one thing); {where}")

        def refuse(new_value: float) -> None:
            raise InputError(f"{self.name}.{pname}({new_value!r}): on {type(self).__name__} {pname} follows `{follows}`; "
                             + where)

        low, high = READOUT_TIME_RANGES_S[f"{pname}_s"]
        self.add_parameter(
            pname, label=label, unit="s", get_cmd=lambda: float(self.parameters[follows]()), set_cmd=refuse,
            vals=vals.Numbers(low, high),
            docstring=f"{label}, s, as the twin models the readout: the pulse parameter `{follows}` (set that one).",
        )

    def _set_settings(self, settings: Sequence[str]) -> None:
        validate_settings(settings)

    # ---- the interface ---------------------------------------------------------------------
    def measure(self, settings: Sequence[str] = PAULI_SETTINGS, shots: int = 2000) -> xr.DataArray:
        """Acquire ``shots`` single shots per setting; counts DataArray (dims setting, outcome)."""
        settings = validate_settings(settings)
        shots = validate_shots(shots, self.max_shots)
        counts = np.asarray(self._acquire(settings, shots))
        return counts_array(counts, settings, shots=shots, instrument=self.name)

    @abstractmethod
    def _acquire(self, settings: tuple[str, ...], shots: int) -> np.ndarray:
        """Counts ``(len(settings), 4)`` ints, outcomes ordered '00', '01', '10', '11'."""

    def measure_prepared(self, states: Sequence[str] = BASIS_STATES, shots: int = 2000) -> xr.DataArray:
        """Prepare each computational basis state ``shots`` times and read both qubits in Z, Z.

        ``states`` are two-bit labels, qubit 1's bit first, 1 = excited (a pi pulse on that qubit
        before the readout). Returns counts with dims ``("prepared", "outcome")``; row ``j``
        divided by ``shots`` estimates ``P(read i | state j)``. This is the raw input of the
        readout calibration (:mod:`thermalink.experiments.readout_calibration`); it does not
        touch the source (switch its output off first so the qubits start in their ground state).
        """
        states = validate_basis_states(states)
        shots = validate_shots(shots, self.max_shots)
        counts = np.asarray(self._acquire_prepared(states, shots))
        return counts_array(counts, states, dim="prepared", shots=shots, instrument=self.name)

    @abstractmethod
    def _acquire_prepared(self, states: tuple[str, ...], shots: int) -> np.ndarray:
        """Counts ``(len(states), 4)`` ints of basis-state preparations read in Z, Z."""

    def assignment_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated ``(A1, A2)``, each ``A[i, j] = P(read i | state j)``."""
        return (
            assignment_matrix(self.qubit1_p1_given_0(), self.qubit1_p0_given_1()),
            assignment_matrix(self.qubit2_p1_given_0(), self.qubit2_p0_given_1()),
        )

    def lab_link(self, source: Any) -> LabLink:
        """The operating point for the twin: the source's current settings (bandwidth,
        occupation, centre, input coupling) and this readout's qubit parameters."""
        in_coupling = source.in_coupling() if "in_coupling" in getattr(source, "parameters", {}) else 0.5
        return LabLink(
            bandwidth_Hz=float(source.bandwidth()),
            source_occupation=float(source.occupation()),
            filter_center_Hz=float(source.center_frequency()),
            qubit1_frequency_Hz=float(self.qubit1_frequency()),
            qubit2_frequency_Hz=float(self.qubit2_frequency()),
            qubit1_linewidth_Hz=float(self.qubit1_linewidth()),
            qubit2_linewidth_Hz=float(self.qubit2_linewidth()),
            in_coupling=float(in_coupling),
            link_loss_dB=float(self.link_loss()),
            t1_s=self.t1(),
            t2_s=self.t2(),
            qubit1_t1_s=self.qubit1_t1(),
            qubit2_t1_s=self.qubit2_t1(),
            qubit1_t2_s=self.qubit1_t2(),
            qubit2_t2_s=self.qubit2_t2(),
            qubit1_excited_population=self._excited_population(1),
            qubit2_excited_population=self._excited_population(2),
            readout_freeze=bool(self.freeze()),
            readout_freeze_time_s=float(self.freeze_time()),
            readout_prerotation_time_s=float(self.prerotation_time()),
            readout_integration_time_s=float(self.integration_time()),
            readout_decay_fraction=float(self.readout_decay_fraction()),
        )

    def _excited_population(self, j: int) -> float:
        own = self.parameters[f"qubit{j}_residual_excitation"]()
        return float(own if own is not None else self.residual_excitation())

    def settle(self, seconds: float) -> None:
        """Wait ``seconds`` for the link to reach its steady state (real or simulated time)."""
        if not seconds >= 0:
            raise ValueError(f"seconds={seconds!r} is outside the allowed range [0, inf)")
        self.clock.sleep(seconds)

    def get_idn(self) -> dict[str, str | None]:
        return {"vendor": "thermalink", "model": type(self).__name__, "serial": None, "firmware": None}
