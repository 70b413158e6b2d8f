"""The virtual two-qubit readout: counts sampled from the twin's steady state.

:class:`VirtualTwoQubitReadout` reads the *current* settings of the source instrument
(temperature, attenuation, bandwidth, centre, output, via its ``occupation``) and its own qubit
parameters (frequencies, linewidths in Hz, T1, T2, residual excitation, link loss, readout errors),
builds the :class:`~thermalink.simulators.lab_units.LabLink` of that operating point, computes
``steady_state(lab_link.to_parameters())`` (cached while the operating point is unchanged) and
samples single shots from it with the tomography estimator's own measurement model.

Readout errors: the shots are drawn with ``true_assignment_errors`` (from the station file's
``assignment_errors``); ``assignment_matrices()`` reports the *calibration*, the
``qubitN_p*_given_*`` parameters, which start equal to the truth and change only when a readout
calibration is applied. So a calibration measures the truth with statistical error, and the same
seed draws the same shots whatever calibration was applied (a resumed run reproduces its counts).

Basis-state preparation (:meth:`VirtualTwoQubitReadout.measure_prepared`, the readout
calibration's input) is modelled as ideal: the prepared computational basis state exactly (perfect
pi pulses, no residual excitation of the qubits, no decay before the readout), then the true
assignment errors. **Decision:** this keeps the calibration honest to test: it must recover exactly
``true_assignment_errors`` within statistical error. The state of
the link (source on or off) is deliberately not used, so a calibration with the source on would
not be caught here; :func:`thermalink.experiments.readout_calibration.calibrate_readout` switches
it off.

Seeded with ``seed`` (parameter and argument): the same seed and the same calls give the same
counts. Waiting (:meth:`settle`) advances the source's virtual clock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qcodes import validators as vals
from qcodes.instrument import Instrument
from qcodes.parameters import Parameter

from thermalink.analysis.tomography_data import measurement_model
from thermalink.drivers.instrument_lookup import resolve_instrument
from thermalink.drivers.two_qubit_readout import TwoQubitReadout, assignment_matrix

from .lab_units import LabLink
from .steady_state import twin_state


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
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.true_assignment_errors: Parameter = self.add_parameter(
            "true_assignment_errors",
            label="True readout errors",
            set_cmd=None,
            initial_value=tuple(float(e) for e in kwargs.get("assignment_errors", (0.0, 0.0, 0.0, 0.0))),
            vals=vals.Sequence(vals.Numbers(0.0, 0.5), length=4),
            docstring="The errors the shots are drawn with: qubit1 P(1|0), qubit1 P(0|1), qubit2 P(1|0), "
            "qubit2 P(0|1). The qubitN_p*_given_* parameters are the calibration (they start equal).",
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

    def _set_seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    @property
    def source(self) -> Instrument:
        """The source instrument whose settings the twin reads."""
        return resolve_instrument(self._source_ref, self.name, "source")

    def current_lab_link(self) -> LabLink:
        """The lab description of the current operating point (source + qubit parameters)."""
        return self.lab_link(self.source)

    def state(self) -> np.ndarray:
        """The twin's steady state (4x4, basis gg, ge, eg, ee) at the current operating point."""
        return twin_state(self.current_lab_link(), self._method)

    def _sample(self, rho: np.ndarray, settings: tuple[str, ...], shots: int) -> np.ndarray:
        """Counts ``(len(settings), 4)``: the estimator's own measurement model (same conventions),
        the *true* readout errors folded in, ``shots`` independent single shots per setting."""
        e = self.true_assignment_errors()
        truth = (assignment_matrix(e[0], e[1]), assignment_matrix(e[2], e[3]))
        probabilities = measurement_model(settings, truth).probabilities(rho)
        probabilities = np.clip(probabilities, 0.0, None)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        return self._rng.multinomial(shots, probabilities).astype(np.int64)

    def _acquire(self, settings: tuple[str, ...], shots: int) -> np.ndarray:
        return self._sample(self.state(), settings, shots)

    def _acquire_prepared(self, states: tuple[str, ...], shots: int) -> np.ndarray:
        """The basis state exactly (index ``2 b1 + b2`` in gg, ge, eg, ee), read in Z, Z."""
        counts = []
        for state in states:
            rho = np.zeros((4, 4))
            rho[int(state, 2), int(state, 2)] = 1.0
            counts.append(self._sample(rho, ("ZZ",), shots)[0])
        return np.stack(counts)

    def settle(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (advances the source's virtual clock)."""
        if not seconds >= 0:
            raise ValueError(f"seconds={seconds!r} is outside the allowed range [0, inf)")
        clock = getattr(self.source, "clock", None)
        if clock is not None:
            clock.sleep(seconds)
