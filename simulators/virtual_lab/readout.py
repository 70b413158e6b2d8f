"""The virtual two-qubit readout: counts sampled from the twin's steady state.

:class:`VirtualTwoQubitReadout` reads the *current* settings of the source instrument
(temperature, attenuation, bandwidth, centre, output, via its ``occupation``) and its own qubit
parameters (frequencies, linewidths in Hz, T1, T2, residual excitation, link loss, readout errors),
builds the :class:`~thermalink.simulators.lab_units.LabLink` of that operating point, computes
``steady_state(lab_link.to_parameters())`` (cached while the operating point is unchanged) and
samples single shots from it with the tomography estimator's own measurement model.

Readout errors: the shots are drawn with ``true_assignment_errors`` (from the station file's
``assignment_errors``; if the file states that they include the readout decay,
``assignment_errors_include_readout_decay: true`` as ``calibrate readout --apply`` writes, the
discriminator's errors are unfolded from them, :func:`discriminator_errors`, so that a calibration
measures the file's errors again and no decay is counted twice); ``assignment_matrices()`` reports the *calibration*, the
``qubitN_p*_given_*`` parameters, which start equal to the truth and change only when a readout
calibration is applied. So a calibration measures the truth with statistical error, and the same
seed draws the same shots whatever calibration was applied (a resumed run reproduces its counts).

Readout protocol (``freeze``, ``freeze_time``, ``prerotation_time``, ``integration_time``,
``readout_decay_fraction``; :class:`~thermalink.simulators.lab_units.ReadoutProtocol`): the shots
are drawn from the twin's state *at the measurement*
(:func:`~thermalink.simulators.virtual_lab.twin_cache.twin_measured_state`): the state at the
pre-rotation pulse, then the decay up to the projection (frozen: the local baths, folded into the
assignment matrices as ``A_j T_j``; unfrozen: the link's exact dynamics). All times zero is the
instantaneous readout of the steady state, bit for bit the sampling without a protocol.

Basis-state preparation (:meth:`VirtualTwoQubitReadout.measure_prepared`, the readout
calibration's input): the prepared computational basis state exactly at the pulse (perfect pi
pulses, no residual excitation), then the same decay up to the projection as a tomography shot
(**decision:** a real pi-pulse calibration includes it, so the calibrated assignment matrices
absorb the readout's decay; frozen, that is exact, and the twin then predicts the counts from the
state at the pulse with those matrices: no decay is counted twice), then the true assignment
errors. With the instantaneous protocol the calibration recovers exactly ``true_assignment_errors``
within statistical error; with a protocol, :meth:`VirtualTwoQubitReadout.effective_assignment_errors`.
The state of the link (source on or off) is not used for the prepared state (unfrozen, the link's
dynamics after the pulse is), so a calibration with the source on would not be caught here;
:func:`thermalink.experiments.readout_calibration.calibrate_readout` switches it off.

Drive frames (``oscillator_phase_reset``, on by default like the SHFQC+ driver's programs): each
qubit is pre-rotated by a drive at its own frequency while the steady state is stationary in the
filter frame. With the oscillators reset on every trigger the two drive frames differ from the
filter frame only by a phase common to both qubits (the shared synthesiser), which leaves the
excitation-conserving steady state unchanged; they are taken as the filter frame. Without the
reset, shot ``k`` of an acquisition (triggers every ``repetition_time``, shots in the order
setting by setting) sees qubit ``j``'s frame rotated by ``2 pi (f_j - f_filter) k T``
(:func:`drive_frame_phases`), so the ``|eg><ge|`` coherence turns by ``2 pi (f1 - f2) T`` per shot
and averages away unless ``(f1 - f2) T`` is an integer.

Seeded with ``seed`` (parameter and argument): the same seed and the same calls give the same
counts. Waiting (:meth:`settle`) advances the source's virtual clock.

Transients (``transients`` parameter, off by default): off, the qubits are always in the twin's
steady state of the current operating point. On, a change of operating point seen by the readout
(at a :meth:`settle` or a measurement) starts a relaxation from the state the qubits were in,
``rho(t) = rho_ss + (rho_0 - rho_ss) exp(-t / tau)``, with ``tau`` the twin's slowest relaxation
time (:func:`~thermalink.simulators.virtual_lab.twin_cache.twin_relaxation_time_s`) and ``t`` virtual time
since the change. **Decision:** this single-mode model has the exact late-time decay; at early
times every faster mode has already decayed further, so it usually overstates the deviation and
is a conservative check that a settle time is long enough (not a bound: the generator is not
normal). It is off by default because any residual transient makes counts depend on a run's
history, and the default virtual lab guarantees that a killed and resumed run reproduces the
uninterrupted counts exactly.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from qcodes import validators as vals
from qcodes.instrument import Instrument
from qcodes.parameters import Parameter

from thermalink.analysis.tomography_data import measurement_model
from thermalink.drivers.instrument_lookup import resolve_instrument
from thermalink.drivers.two_qubit_readout import TwoQubitReadout, assignment_matrix

from thermalink.simulators.lab_units import LabLink
from thermalink.simulators.errors import InputError
from thermalink.simulators.readout_dynamics import local_channel, local_decay_matrices
from .twin_cache import (
    UNFOLD_TOLERANCE,  # noqa: F401  (re-exported)
    MeasuredState,
    _marginal_errors,
    discriminator_errors,
    twin_calibration_decay,
    twin_measured_state,
    twin_relaxation_time_s,
    twin_state,
    with_source_off,
)

def drive_frame_phases(link: LabLink, shots: int, repetition_time_s: float, phase_reset: bool) -> np.ndarray:
    """Phases (rad, ``(2, shots)``) of qubit 1's and qubit 2's drive frame against the filter
    frame at the pre-rotation of shot ``k = 0 .. shots-1`` of one acquisition (module docstring)."""
    phases = np.zeros((2, int(shots)))
    if phase_reset:
        return phases
    k = np.arange(int(shots))
    for j, frequency in enumerate((link.qubit1_frequency_Hz, link.qubit2_frequency_Hz)):
        cycles_per_shot = ((frequency - link.filter_center_Hz) * repetition_time_s) % 1.0
        phases[j] = 2 * np.pi * ((k * cycles_per_shot) % 1.0)
    return phases


def in_drive_frames(rho: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """The states ``(n, 4, 4)`` seen through drive frames rotated by ``phases`` ``(2, n)`` (rad):
    ``U rho U^dagger`` with ``U = exp(i (phi1 n1 + phi2 n2))``, basis gg, ge, eg, ee."""
    excitations = np.array([[0, 0, 1, 1], [0, 1, 0, 1]])  # n1, n2 of gg, ge, eg, ee
    u = np.exp(1j * (np.asarray(phases).T @ excitations))  # (n, 4)
    return u[:, :, None] * np.asarray(rho)[None] * u.conj()[:, None, :]


def sample_single_shots(states: np.ndarray, setting_index: np.ndarray, model: Any, rng: np.random.Generator) -> np.ndarray:
    """One outcome (``2 b1 + b2``) per shot: shot ``i`` of state ``states[i]`` measured in setting
    ``model.settings[setting_index[i]]`` of the measurement ``model``."""
    probabilities = model.probabilities(states)[np.arange(len(setting_index)), setting_index]  # (n, 4)
    probabilities = np.clip(probabilities, 0.0, None)
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    draws = rng.random(len(setting_index))
    return np.minimum((draws[:, None] > np.cumsum(probabilities, axis=-1)).sum(axis=-1), 3)


@dataclass(frozen=True)
class _Relaxation:
    """The qubits relaxing towards the steady state of ``link`` from ``start`` since ``since_s``."""

    link: LabLink
    start: np.ndarray  # 4x4 state when the operating point changed
    since_s: float  # virtual time of the change, s
    method: str

    def state_at(self, now_s: float) -> np.ndarray:
        steady = twin_state(self.link, self.method)
        decay = math.exp(-(now_s - self.since_s) / twin_relaxation_time_s(self.link))
        return steady + (self.start - steady) * decay


class VirtualTwoQubitReadout(TwoQubitReadout):
    """Two-qubit readout of the digital twin.

    Args:
        name: instrument name (``"readout"`` in the simulated station).
        source: the source instrument or its name (resolved at first use, loaded from the
            default station if not open yet).
        seed: seed of the shot noise (``None``: fresh entropy).
        steady_state_method: ``steady_state`` method of the twin (``"exact"``).
        **kwargs: qubit parameters of :class:`TwoQubitReadout` (frequencies, linewidths, ``t1``,
            ``t2``, ``residual_excitation``, ``link_loss``, ``assignment_errors``).
    """

    def __init__(
        self,
        name: str,
        source: str | Instrument = "source",
        *,
        seed: int | None = None,
        steady_state_method: str = "exact",
        transients: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.true_assignment_errors: Parameter = self.add_parameter(
            "true_assignment_errors",
            label="True readout errors",
            set_cmd=None,
            initial_value=tuple(float(e) for e in kwargs.get("assignment_errors", (0.0, 0.0, 0.0, 0.0))),
            vals=vals.Sequence(vals.Numbers(0.0, 0.5), length=4),
            docstring="The station's true errors: qubit1 P(1|0), qubit1 P(0|1), qubit2 P(1|0), "
            "qubit2 P(0|1). The qubitN_p*_given_* parameters are the calibration (they start equal).",
        )
        self.true_errors_include_readout_decay: Parameter = self.add_parameter(
            "true_errors_include_readout_decay",
            label="True errors include the readout decay",
            set_cmd=None,
            initial_value=bool(kwargs.get("assignment_errors_include_readout_decay", False)),
            vals=vals.Bool(),
            docstring="False: true_assignment_errors are the discriminator's (the shots get the protocol's decay "
            "on top). True: they are what a calibration through the protocol measures; the discriminator's are "
            "unfolded from them (discriminator_errors). From the station's assignment_errors_include_readout_decay; "
            "a calibration applied later changes that parameter, not this one.",
        )
        self._source_ref = source
        self._method = steady_state_method
        self._rng = np.random.default_rng(seed)
        self.seed: Parameter = self.add_parameter(
            "seed",
            label="Shot-noise seed",
            set_cmd=self._set_seed,
            get_cmd=None,
            initial_cache_value=seed,
            vals=vals.MultiType(vals.Ints(0), vals.Enum(None)),
            docstring="Seed of the shot noise; setting it restarts the random stream.",
        )

        self.transients: Parameter = self.add_parameter(
            "transients",
            label="Transient dynamics",
            set_cmd=self._set_transients,
            get_cmd=None,
            initial_cache_value=bool(transients),
            vals=vals.Bool(),
            docstring="False: always the twin's steady state. True: after a change of operating point the "
            "qubits relax towards it with the twin's slowest relaxation time (see the module docstring).",
        )
        self._relaxing: _Relaxation | None = None
        self.repetition_time: Parameter = self.add_parameter(
            "repetition_time",
            label="Repetition time",
            unit="s",
            set_cmd=None,
            initial_value=100e-6,
            vals=vals.Numbers(2e-6, 1.0),
            docstring="Time between shots (triggers), s; sets the drive-frame phases without a phase reset.",
        )
        self.oscillator_phase_reset: Parameter = self.add_parameter(
            "oscillator_phase_reset",
            label="Drive oscillator phase reset",
            set_cmd=None,
            initial_value=True,
            vals=vals.Bool(),
            docstring="True: both drive oscillators restart on every trigger (the SHFQC+ driver's programs). "
            "False: free-running drive frames (module docstring).",
        )

    def _set_transients(self, on: bool) -> None:
        self._relaxing = None  # from now on, starting from the steady state of what is seen next

    def _set_seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    @property
    def source(self) -> Instrument:
        """The source instrument whose settings the twin reads."""
        return resolve_instrument(self._source_ref, self.name, "source")

    def lab_link(self, source: Any) -> LabLink:
        """The driver's :meth:`TwoQubitReadout.lab_link`, with a virtual source's occupation taken
        at the settled hot-load temperature (``settled_occupation``, see
        :mod:`thermalink.simulators.virtual_lab.source`): the twin state behind the counts depends
        on the operating point only, not on how the load got there."""
        link = super().lab_link(source)
        settled = getattr(source, "settled_occupation", None)
        if settled is None:
            return link
        return dataclasses.replace(link, source_occupation=float(settled()))

    def current_lab_link(self) -> LabLink:
        """The lab description of the current operating point (source + qubit parameters)."""
        return self.lab_link(self.source)

    def state(self) -> np.ndarray:
        """The qubits' state now (4x4, basis gg, ge, eg, ee): the twin's steady state at the current
        operating point, or with ``transients`` on, on its way there."""
        link = self.current_lab_link()
        clock = getattr(self.source, "clock", None)
        if not self.transients() or clock is None:
            return twin_state(link, self._method)
        now = clock.now()
        if self._relaxing is None:  # first look: taken as settled
            self._relaxing = _Relaxation(link, twin_state(link, self._method), now, self._method)
        elif link != self._relaxing.link:
            self._relaxing = _Relaxation(link, self._relaxing.state_at(now), now, self._method)
        return self._relaxing.state_at(now)

    def discriminator_errors(self) -> tuple[float, float, float, float]:
        """The discriminator's true errors the shots are drawn with (before the protocol's decay):
        ``true_assignment_errors``, or with ``true_errors_include_readout_decay`` those with the
        decay taken out (:func:`discriminator_errors` at the current operating point)."""
        errors = tuple(float(e) for e in self.true_assignment_errors())
        if not self.true_errors_include_readout_decay():
            return errors
        return discriminator_errors(errors, self.current_lab_link())

    def _truth(self, decay=None) -> tuple[np.ndarray, np.ndarray]:
        """The true per-qubit assignment matrices, with a frozen readout's decay folded in."""
        e = self.discriminator_errors()
        truth = (assignment_matrix(e[0], e[1]), assignment_matrix(e[2], e[3]))
        if decay is None:
            return truth
        return truth[0] @ decay[0], truth[1] @ decay[1]

    def _sample(self, rho: np.ndarray, settings: tuple[str, ...], shots: int, decay=None) -> np.ndarray:
        """Counts ``(len(settings), 4)``: the estimator's own measurement model (same conventions),
        the *true* readout errors (and a frozen readout's ``decay``) folded in, ``shots``
        independent single shots per setting."""
        probabilities = measurement_model(settings, self._truth(decay)).probabilities(rho)
        return self._draw(probabilities, shots)

    def _draw(self, probabilities: np.ndarray, shots: int) -> np.ndarray:
        probabilities = np.clip(probabilities, 0.0, None)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        return self._rng.multinomial(shots, probabilities).astype(np.int64)

    def measured_state(self) -> MeasuredState:
        """The twin's state at the measurement under the current readout protocol (module
        docstring); with ``transients`` on, a frozen protocol applied to the relaxing state."""
        link = self.current_lab_link()
        measured = twin_measured_state(link, self._method)
        if not self.transients() or getattr(self.source, "clock", None) is None:
            return measured
        if measured.decay is None:
            raise InputError("transients=True with an unfrozen readout protocol is not modelled "
                             "(allowed: transients=False, or freeze=True)")
        rho = local_channel(self.state(), link.to_parameters(), link.frozen_time_before_pulse())
        return MeasuredState(link, rho, measured.decay)

    def _acquire(self, settings: tuple[str, ...], shots: int) -> np.ndarray:
        measured = self.measured_state()
        if measured.decay is None:
            if not self.oscillator_phase_reset():
                raise InputError("oscillator_phase_reset=False with an unfrozen readout protocol is not modelled "
                                 "(allowed: oscillator_phase_reset=True, or freeze=True)")
            joint = np.kron(*self._truth())
            return self._draw(measured.populations(settings) @ joint.T, shots)
        if self.oscillator_phase_reset():
            return self._sample(measured.rho, settings, shots, measured.decay)
        return self._sample_in_drive_frames(measured.rho, settings, shots, measured.decay)

    def _sample_in_drive_frames(self, rho: np.ndarray, settings: tuple[str, ...], shots: int,
                                decay=None) -> np.ndarray:
        """Counts of single shots taken one by one in free-running drive frames."""
        model = measurement_model(settings, self._truth(decay))
        n = len(settings) * shots
        phases = drive_frame_phases(self.current_lab_link(), n, float(self.repetition_time()), False)
        setting_index = np.repeat(np.arange(len(settings)), shots)
        outcomes = sample_single_shots(in_drive_frames(rho, phases), setting_index, model, self._rng)
        return np.bincount(4 * setting_index + outcomes, minlength=4 * len(settings)).reshape(-1, 4).astype(np.int64)

    def _acquire_prepared(self, states: tuple[str, ...], shots: int) -> np.ndarray:
        """The basis state exactly at the pulse (index ``2 b1 + b2`` in gg, ge, eg, ee), the
        protocol's decay up to the projection, read in Z, Z (no steady state is solved)."""
        link = self.current_lab_link()
        protocol = link.readout_protocol
        decay = None  # instantaneous: the true errors alone
        if protocol.freeze and not protocol.is_instantaneous:
            decay = local_decay_matrices(link.to_parameters(), link.readout_times()[1])
        counts = []
        for state in states:
            if not (protocol.freeze or protocol.is_instantaneous):  # unfrozen: the link acts after the pulse
                joint = np.kron(*self._truth())
                counts.append(self._draw(joint @ twin_calibration_decay(link)[:, int(state, 2)], shots))
                continue
            rho = np.zeros((4, 4))
            rho[int(state, 2), int(state, 2)] = 1.0
            counts.append(self._sample(rho, ("ZZ",), shots, decay)[0])
        return np.stack(counts)

    def effective_assignment_errors(self) -> tuple[float, float, float, float]:
        """The errors a readout calibration measures under the current protocol (frozen or
        instantaneous: the true errors with the decay after the pulse folded in, exactly; unfrozen:
        the per-qubit marginals of the correlated joint matrix; with the source off, as a calibration
        measures them, whatever the source is now), ordered as ``true_assignment_errors``: q1 P(1|0),
        q1 P(0|1), q2 P(1|0), q2 P(0|1)."""
        link = with_source_off(self.current_lab_link())
        joint = np.kron(*self._truth()) @ twin_calibration_decay(link)  # [read, prepared]
        return tuple(float(e) for e in _marginal_errors(joint))

    def settle(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (advances the source's virtual clock)."""
        if not seconds >= 0:
            raise ValueError(f"seconds={seconds!r} is outside the allowed range [0, inf)")
        clock = getattr(self.source, "clock", None)
        if clock is not None:
            if self.transients():
                self.state()  # notes a change of operating point made before this wait
            clock.sleep(seconds)
