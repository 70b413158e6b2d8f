"""The one conversion layer between lab quantities (Hz, K, dB, s) and the unit-free twin.

* Linewidths are quoted as ``kappa / 2pi`` and ``gamma / 2pi`` in Hz (FWHM, energy decay).
* The twin's rate unit is qubit 1's waveguide linewidth: ``gamma1 = 1`` after conversion, so a
  twin rate ``r`` is the angular rate ``r * 2pi * qubit1_linewidth_Hz`` in rad/s.
* Detunings ``delta_j = 2pi (f_qubit_j - f_filter)`` in that same unit.
* Attenuations are in dB (power); ``A = 10**(dB/10) >= 1``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields, replace
from typing import Sequence

import numpy as np

from .errors import InputError
from .link_parameters import LinkParameters

PLANCK = 6.62607015e-34  # J s
BOLTZMANN = 1.380649e-23  # J / K


def bose_einstein(temperature_K, frequency_Hz):
    """Thermal occupation ``1 / (exp(h f / k_B T) - 1)``; 0 at ``T = 0``.

    Temperature first, then frequency: ``bose_einstein(300.0, 6e9)`` is about 1041.
    """
    temperature = np.asarray(temperature_K, dtype=float)
    frequency = np.asarray(frequency_Hz, dtype=float)
    if np.any(~(temperature >= 0)):
        raise InputError(f"temperature_K={temperature_K!r} is outside the allowed range [0, inf) K")
    if np.any(~(frequency > 0)):
        raise InputError(f"frequency_Hz={frequency_Hz!r} is outside the allowed range (0, inf) Hz")
    with np.errstate(divide="ignore", over="ignore"):
        x = PLANCK * frequency / (BOLTZMANN * temperature)
        occupation = np.where(temperature > 0, 1.0 / np.expm1(x), 0.0)
    return float(occupation) if occupation.ndim == 0 else occupation


def db_to_power_ratio(attenuation_dB: float) -> float:
    """Linear power attenuation ``A = 10**(dB/10)`` (>= 1 for a non-negative attenuation)."""
    if not attenuation_dB >= 0:
        raise InputError(f"attenuation_dB={attenuation_dB!r} is outside the allowed range [0, inf) dB")
    return 10.0 ** (attenuation_dB / 10.0)


@dataclass(frozen=True)
class LineStage:
    """One attenuating stage of the line from the hot load to the filter, at its own temperature."""

    attenuation_dB: float
    temperature_K: float

    def __post_init__(self) -> None:
        db_to_power_ratio(self.attenuation_dB)
        if not self.temperature_K >= 0:
            raise InputError(f"temperature_K={self.temperature_K!r} is outside the allowed range [0, inf) K")


def line_occupation(n_in: float, stages: Sequence[LineStage], frequency_Hz: float) -> float:
    """Occupation after the stages, in order from the source: ``n / A + (1 - 1/A) N(T_s, f)``."""
    if not n_in >= 0:
        raise InputError(f"n_in={n_in!r} is outside the allowed range [0, inf)")
    occupation = float(n_in)
    for stage in stages:
        ratio = db_to_power_ratio(stage.attenuation_dB)
        occupation = occupation / ratio + (1.0 - 1.0 / ratio) * bose_einstein(stage.temperature_K, frequency_Hz)
    return occupation


def source_occupation(temperature_K: float, frequency_Hz: float, stages: Sequence[LineStage] = ()) -> float:
    """``n_source`` at the filter input: the hot load's occupation carried through the line."""
    return line_occupation(bose_einstein(temperature_K, frequency_Hz), stages, frequency_Hz)


def merge_filter_ports(in_coupling: float, n_source: float, loss_fraction: float,
                       n_loss: float) -> tuple[float, float]:
    """``(in_coupling, n_source)`` of the one-input-port model for a filter with internal loss.

    A filter of total width ``kappa`` with a hot input port (``in_coupling * kappa``, occupation
    ``n_source``) and an internal loss (``loss_fraction * kappa``, its own occupation ``n_loss``)
    has two thermal baths acting on the same mode through ``D[c]`` and ``D[c^+]``; their sum is
    exactly one port of rate ``k_in + k_int`` at the rate-weighted occupation
    ``(k_in n_source + k_int n_loss) / (k_in + k_int)``. The waveguide gets the rest,
    ``kappa_out = kappa (1 - in_coupling - loss_fraction)``. Unit-free (fractions of ``kappa``).
    """
    for name, value, high in (("in_coupling", in_coupling, 1.0), ("loss_fraction", loss_fraction, 1.0),
                              ("n_source", n_source, math.inf), ("n_loss", n_loss, math.inf)):
        if not 0 <= value <= high or math.isinf(value):
            raise InputError(f"{name}={value!r} is outside the allowed range [0, {high}]")
    total = in_coupling + loss_fraction
    if total > 1.0 + 1e-12:
        raise InputError(
            f"in_coupling + loss_fraction = {total!r} is outside the allowed range [0, 1]: "
            "the filter's ports cannot take more than its whole width"
        )
    if total == 0.0:
        return 0.0, 0.0
    return min(total, 1.0), (in_coupling * n_source + loss_fraction * n_loss) / total


def backward_fraction_from_isolation(isolation_dB: float | None) -> float:
    """Fraction of each element's waveguide emission that goes backwards, from an isolation in dB.

    Isolation ``I`` = forward over backward power, ``10**(I/10) = (1 - b) / b``; ``None`` (or
    ``inf``) is the perfectly chiral link, ``b = 0``; 0 dB is a bidirectional waveguide, ``b = 1/2``.
    """
    if isolation_dB is None:
        return 0.0
    if not isolation_dB >= 0:
        raise InputError(f"isolation_dB={isolation_dB!r} is outside the allowed range [0, inf] dB (or None)")
    if math.isinf(isolation_dB):
        return 0.0
    return 1.0 / (1.0 + 10.0 ** (isolation_dB / 10.0))


#: Reference temperature T0 of an excess noise ratio, K (the IEEE standard 290 K).
ENR_REFERENCE_K = 290.0


def noise_diode_temperature(enr_dB: float, off_temperature_K: float = ENR_REFERENCE_K) -> float:
    """Noise temperature of a noise diode that is on, K: ``T_off + T0 * 10**(ENR/10)``.

    ``ENR = (T_on - T_off) / T0`` with ``T0`` = :data:`ENR_REFERENCE_K`; ``T_off`` is the diode's
    temperature when off (its physical temperature, 290 K for the standard definition).
    """
    if not math.isfinite(enr_dB):
        raise InputError(f"enr_dB={enr_dB!r} is outside the allowed range (-inf, inf) dB")
    if not (off_temperature_K >= 0 and math.isfinite(off_temperature_K)):
        raise InputError(f"off_temperature_K={off_temperature_K!r} is outside the allowed range [0, inf) K")
    return off_temperature_K + ENR_REFERENCE_K * 10.0 ** (enr_dB / 10.0)


def noise_diode_occupation(
    enr_dB: float, frequency_Hz: float, stages: Sequence[LineStage] = (), off_temperature_K: float = ENR_REFERENCE_K
) -> float:
    """``n_source`` at the filter input from a noise diode given by its excess noise ratio (dB).

    The on-state noise temperature (:func:`noise_diode_temperature`) taken as a Bose-Einstein
    occupation at ``frequency_Hz`` (it differs from ``k T / h f`` by 1/2 photon), then carried
    through the line ``stages`` (source first) like a hot load.
    """
    return source_occupation(noise_diode_temperature(enr_dB, off_temperature_K), frequency_Hz, stages)


def dbm_per_hz_to_watt_per_hz(psd_dBm_per_Hz: float) -> float:
    """A power spectral density in dBm/Hz as W/Hz: ``10**((dBm - 30) / 10)``."""
    if not math.isfinite(psd_dBm_per_Hz):
        raise InputError(f"psd_dBm_per_Hz={psd_dBm_per_Hz!r} is outside the allowed range (-inf, inf) dBm/Hz")
    return 10.0 ** ((psd_dBm_per_Hz - 30.0) / 10.0)


def spectral_density_occupation(
    psd_W_per_Hz: float, frequency_Hz: float, stages: Sequence[LineStage] = ()
) -> float:
    """``n_source`` at the filter input from band-limited noise (e.g. an AWG) of one-sided power
    spectral density ``S`` (W/Hz) at the source output: ``n = S / (h f)`` (a line of occupation
    ``n`` carries ``n h f`` watts per hertz), then through the line ``stages`` (source first).

    The noise must cover the filter's pass band; ``S`` is the total density there.
    """
    if not (psd_W_per_Hz >= 0 and math.isfinite(psd_W_per_Hz)):
        raise InputError(f"psd_W_per_Hz={psd_W_per_Hz!r} is outside the allowed range [0, inf) W/Hz")
    if not (frequency_Hz > 0 and math.isfinite(frequency_Hz)):
        raise InputError(f"frequency_Hz={frequency_Hz!r} is outside the allowed range (0, inf) Hz")
    return line_occupation(psd_W_per_Hz / (PLANCK * frequency_Hz), stages, frequency_Hz)


def awg_noise_occupation(psd_dBm_per_Hz: float, frequency_Hz: float, stages: Sequence[LineStage] = ()) -> float:
    """``n_source`` from AWG noise given as a spectral density in dBm/Hz at the AWG output
    (:func:`spectral_density_occupation` of :func:`dbm_per_hz_to_watt_per_hz`)."""
    return spectral_density_occupation(dbm_per_hz_to_watt_per_hz(psd_dBm_per_Hz), frequency_Hz, stages)


def _positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise InputError(f"{name}={value!r} is outside the allowed range (0, inf)")


class IllConditionedWarning(UserWarning):
    """A twin parameter derived from lab inputs is poorly determined by them (large relative error)."""


#: Relative standard error above which a derived local rate is reported as ill-conditioned.
ILL_CONDITIONED_RELATIVE_ERROR = 0.3


@dataclass(frozen=True)
class LocalRates:
    """Qubit j's local terms derived from its T1, T2 and residual excited population.

    Rates in 1/s (angular: a rate ``g`` decays a population as ``exp(-g t)``), with first-order
    standard errors from the inputs' uncertainties (taken independent; 0 where none was given).
    ``t1_sensitivity`` is ``d ln(gamma_local) / d ln(T1)``: a 1 % error in T1 moves the local decay
    by that many per cent.
    """

    gamma_local_per_s: float
    gamma_local_err_per_s: float
    n_qubit: float
    n_qubit_err: float
    gamma_phi_per_s: float
    gamma_phi_err_per_s: float
    t1_sensitivity: float

    @staticmethod
    def _relative(value: float, err: float) -> float:
        if err == 0.0:
            return 0.0
        return err / value if value > 0 else math.inf

    @property
    def gamma_local_relative_err(self) -> float:
        return self._relative(self.gamma_local_per_s, self.gamma_local_err_per_s)

    @property
    def gamma_phi_relative_err(self) -> float:
        return self._relative(self.gamma_phi_per_s, self.gamma_phi_err_per_s)


#: Allowed ranges of the readout protocol's times, s (a freeze or a pulse beyond 10 us, or an
#: integration beyond 100 us, is no two-qubit readout of these qubits).
READOUT_TIME_RANGES_S = {"freeze_time_s": (0.0, 1e-5), "prerotation_time_s": (0.0, 1e-5),
                         "integration_time_s": (0.0, 1e-4)}


@dataclass(frozen=True)
class ReadoutProtocol:
    """What happens to the qubits between the steady state and the projection, times in s.

    One shot: if ``freeze``, a freeze step of ``freeze_time_s`` (a tunable coupler or a fast
    detuning decoupling the qubits from the waveguide), then the pre-rotation pulse (a window of
    ``prerotation_time_s``), then the readout (``integration_time_s``). The pulse is taken as
    instantaneous at the middle of its window; the state is taken as projected after the fraction
    ``decay_fraction`` of the integration window (**decision:** 0.5 by default: a matched-filter
    integration weighs the window evenly, so a decay during it counts as if it happened at its
    middle on average). So the state evolves ``t_before = prerotation/2`` before the pulse and
    ``t_after = prerotation/2 + decay_fraction * integration`` after it. During the freeze step
    itself the link still acts, and it leaves its steady state unchanged: the freeze time enters
    the shot's duration, not the state (a freeze that is not sudden, or the phases a detuning
    leaves, are not modelled). Frozen, only the qubits' local baths act from then on; unfrozen, the
    whole link (``thermalink.simulators.readout_dynamics``). All times zero (the default) is the
    instantaneous readout of the steady state.
    """

    freeze: bool = False
    freeze_time_s: float = 0.0
    prerotation_time_s: float = 0.0
    integration_time_s: float = 0.0
    decay_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.freeze, (bool, np.bool_)):
            raise InputError(f"freeze={self.freeze!r} is outside the allowed values (True, False)")
        for name, (low, high) in READOUT_TIME_RANGES_S.items():
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and low <= value <= high):
                raise InputError(f"{name}={value!r} is outside the allowed range [{low:g}, {high:g}] s")
        if not (isinstance(self.decay_fraction, (int, float)) and 0.0 <= self.decay_fraction <= 1.0):
            raise InputError(f"decay_fraction={self.decay_fraction!r} is outside the allowed range [0, 1]")

    @property
    def is_instantaneous(self) -> bool:
        """No evolution between the steady state and the projection (both pulse times zero)."""
        return self.times_s() == (0.0, 0.0)

    def times_s(self) -> tuple[float, float]:
        """``(t_before, t_after)`` of the pulse, s (class docstring)."""
        half = 0.5 * float(self.prerotation_time_s)
        return half, half + float(self.decay_fraction) * float(self.integration_time_s)

    @property
    def shot_time_s(self) -> float:
        """Duration of one shot's protocol, s: freeze (if on), pre-rotation and integration."""
        return (self.freeze_time_s if self.freeze else 0.0) + self.prerotation_time_s + self.integration_time_s


#: LabLink's field of each ReadoutProtocol field.
READOUT_FIELDS = {"freeze": "readout_freeze", "freeze_time_s": "readout_freeze_time_s",
                  "prerotation_time_s": "readout_prerotation_time_s",
                  "integration_time_s": "readout_integration_time_s", "decay_fraction": "readout_decay_fraction"}


def _per_qubit_fields(j: int) -> tuple[str, ...]:
    return (f"qubit{j}_t1_s", f"qubit{j}_t1_err_s", f"qubit{j}_t2_s", f"qubit{j}_t2_err_s",
            f"qubit{j}_excited_population", f"qubit{j}_excited_population_err", f"qubit{j}_linewidth_err_Hz",
            f"qubit{j}_waveguide_occupation")


@dataclass(frozen=True)
class LabLink:
    """One operating point of the experiment in lab units.

    Frequencies and linewidths in Hz (linewidth = FWHM / 2pi convention: ``kappa/2pi``), times in
    s, loss in dB.

    Filter: ``bandwidth_Hz`` is its total width, ``in_coupling`` the hot port's fraction of it,
    ``filter_internal_loss_Hz`` (``kappa_int/2pi``, part of the bandwidth) an internal loss at its
    own temperature ``filter_internal_temperature_K``; the waveguide gets the rest. The twin sees
    the loss as a second input port, merged into ``in_coupling`` and ``n_source`` exactly
    (:func:`merge_filter_ports`), so the twin's ``n_source`` is then not ``source_occupation``.

    Directionality: ``isolation_dB`` (forward over backward emission of every element on the
    waveguide; ``None``: perfectly chiral) and the backward path's round-trip propagation phases
    ``round_trip_phase01_rad`` (qubit 1 <-> filter) and ``round_trip_phase12_rad`` (qubit 2 <->
    qubit 1), see :class:`~thermalink.simulators.link_parameters.LinkParameters`. ``delay_s``: the
    propagation delay from qubit 1 to qubit 2 (twin ``delay = 2 pi linewidth_1 delay_s``).

    Qubit coherence, per qubit ``j`` (``qubitj_*``; the shared ``t1_s`` / ``t2_s`` apply to both
    qubits where no per-qubit value is given): measured T1, Ramsey T2 and the residual excited
    population ``p`` measured with the source off, each with an optional standard error
    (``*_err``; also ``qubitj_linewidth_err_Hz``). The qubit thermalises with two baths: its
    local one (rate ``g_loc``, occupation ``n``) and the waveguide (rate ``g = 2 pi linewidth``,
    occupation ``n_w = qubitj_waveguide_occupation`` of the field reaching it during that
    measurement, default 0: a cold waveguide). Upward and downward rates
    ``G_up = g n_w + g_loc n``, ``G_down = g (n_w + 1) + g_loc (n + 1)``, and ``1/T1 = G_up + G_down``,
    ``p = G_up T1``, so

        g_loc = (1 - 2 p) / T1 - g,   n = (p / T1 - g n_w) / g_loc,   g_phi = 1/T2 - 1/(2 T1).

    Without a waveguide (``g = 0``) this is ``n = p / (1 - 2 p)``; a cold waveguide pulls the qubit
    down (``n = p / (1 - 2 p - g T1)``, larger), a warm one feeds it (smaller ``n``). Qubit 2 is also
    fed by qubit 1's emission: measure its ``p`` with qubit 1 parked, or give that feed as ``n_w``. ``g_loc`` is a small difference when the
    qubit is waveguide-limited (:class:`LocalRates` reports its T1 sensitivity and errors;
    :meth:`to_parameters` warns, or refuses, when it is ill-conditioned). ``local_occupation`` is
    the older input: the local bath's occupation ``n`` itself, shared, used where no excited
    population is given (then ``g_loc = (1/T1 - g) / (2 n + 1)``).
    """

    bandwidth_Hz: float
    source_occupation: float
    filter_center_Hz: float
    qubit1_frequency_Hz: float
    qubit2_frequency_Hz: float
    qubit1_linewidth_Hz: float
    qubit2_linewidth_Hz: float
    in_coupling: float = 0.5
    link_loss_dB: float = 0.0
    t1_s: float | None = None
    t2_s: float | None = None
    local_occupation: float = 0.0
    qubit1_t1_s: float | None = None
    qubit1_t1_err_s: float = 0.0
    qubit1_t2_s: float | None = None
    qubit1_t2_err_s: float = 0.0
    qubit1_excited_population: float | None = None
    qubit1_excited_population_err: float = 0.0
    qubit1_linewidth_err_Hz: float = 0.0
    qubit1_waveguide_occupation: float = 0.0
    qubit2_t1_s: float | None = None
    qubit2_t1_err_s: float = 0.0
    qubit2_t2_s: float | None = None
    qubit2_t2_err_s: float = 0.0
    qubit2_excited_population: float | None = None
    qubit2_excited_population_err: float = 0.0
    qubit2_linewidth_err_Hz: float = 0.0
    qubit2_waveguide_occupation: float = 0.0
    filter_internal_loss_Hz: float = 0.0
    filter_internal_temperature_K: float = 0.0
    isolation_dB: float | None = None
    round_trip_phase01_rad: float = 0.0
    round_trip_phase12_rad: float = 0.0
    delay_s: float = 0.0
    readout_freeze: bool = False
    readout_freeze_time_s: float = 0.0
    readout_prerotation_time_s: float = 0.0
    readout_integration_time_s: float = 0.0
    readout_decay_fraction: float = 0.5

    def __post_init__(self) -> None:
        try:
            self.readout_protocol  # validates the readout_* fields
        except InputError as error:
            raise InputError(f"readout_{error}") from None
        for name in ("bandwidth_Hz", "filter_center_Hz", "qubit1_frequency_Hz", "qubit2_frequency_Hz",
                     "qubit1_linewidth_Hz", "qubit2_linewidth_Hz"):
            _positive(name, getattr(self, name))
        if not self.source_occupation >= 0:
            raise InputError(f"source_occupation={self.source_occupation!r} is outside the allowed range [0, inf)")
        if not 0 <= self.in_coupling <= 1:
            raise InputError(f"in_coupling={self.in_coupling!r} is outside the allowed range [0, 1]")
        if not self.link_loss_dB >= 0:
            raise InputError(f"link_loss_dB={self.link_loss_dB!r} is outside the allowed range [0, inf) dB")
        if not self.local_occupation >= 0:
            raise InputError(f"local_occupation={self.local_occupation!r} is outside the allowed range [0, inf)")
        if not 0 <= self.filter_internal_loss_Hz <= (1 - self.in_coupling) * self.bandwidth_Hz:
            raise InputError(
                f"filter_internal_loss_Hz={self.filter_internal_loss_Hz!r} is outside the allowed range "
                f"[0, (1 - in_coupling) bandwidth = {(1 - self.in_coupling) * self.bandwidth_Hz:.6g}] Hz"
            )
        if not (self.filter_internal_temperature_K >= 0 and math.isfinite(self.filter_internal_temperature_K)):
            raise InputError(
                f"filter_internal_temperature_K={self.filter_internal_temperature_K!r} is outside the allowed "
                "range [0, inf) K"
            )
        backward_fraction_from_isolation(self.isolation_dB)
        if not (self.delay_s >= 0 and math.isfinite(self.delay_s)):
            raise InputError(f"delay_s={self.delay_s!r} is outside the allowed range [0, inf) s")
        for name in ("round_trip_phase01_rad", "round_trip_phase12_rad"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"{name}={getattr(self, name)!r} is outside the allowed range (-inf, inf) rad")
        for j in (1, 2):
            for name in _per_qubit_fields(j):
                value = getattr(self, name)
                if name.endswith(("_err_s", "_err", "_err_Hz", "_waveguide_occupation")):
                    if not (value >= 0 and math.isfinite(value)):
                        raise InputError(f"{name}={value!r} is outside the allowed range [0, inf)")
            population = getattr(self, f"qubit{j}_excited_population")
            if population is not None:
                if not 0 <= population < 0.5:
                    raise InputError(
                        f"qubit{j}_excited_population={population!r} is outside the allowed range [0, 0.5)"
                    )
                if self.local_occupation != 0:
                    raise InputError(
                        f"local_occupation={self.local_occupation!r} and qubit{j}_excited_population="
                        f"{population!r} both fix qubit {j}'s local bath: give one (allowed: local_occupation=0)"
                    )
            t1_name = f"qubit{j}_t1_s" if getattr(self, f"qubit{j}_t1_s") is not None else "t1_s"
            t1 = self._t1(j)
            waveguide_t1 = self._waveguide_t1_s(j)
            if t1 is not None and not 0 < t1 <= waveguide_t1:
                raise InputError(
                    f"{t1_name}={t1!r} is outside the allowed range (0, {waveguide_t1:.4g}] s for qubit {j}: "
                    "T1 cannot exceed the waveguide-limited 1/(2 pi linewidth)"
                )
            if population is not None and population > 0 and t1 is None:
                raise InputError(
                    f"qubit{j}_excited_population={population!r} needs qubit {j}'s T1 (t1_s or qubit{j}_t1_s; "
                    "allowed without it: 0 or None)"
                )
            t2 = self._t2(j)
            if t2 is not None:
                t2_name = f"qubit{j}_t2_s" if getattr(self, f"qubit{j}_t2_s") is not None else "t2_s"
                limit = 2 * (t1 if t1 is not None else waveguide_t1)
                if not 0 < t2 <= limit:
                    raise InputError(f"{t2_name}={t2!r} is outside the allowed range (0, 2 T1 = {limit:.4g}] s")

    @property
    def readout_protocol(self) -> ReadoutProtocol:
        """The readout protocol of the ``readout_*`` fields (defaults: the instantaneous readout)."""
        return ReadoutProtocol(**{name: getattr(self, field) for name, field in READOUT_FIELDS.items()})

    def without_readout(self) -> LabLink:
        """This operating point with the instantaneous readout (the key of its steady state)."""
        defaults = ReadoutProtocol()
        if self.readout_protocol == defaults:
            return self
        return replace(self, **{field: getattr(defaults, name) for name, field in READOUT_FIELDS.items()})

    def readout_times(self) -> tuple[float, float]:
        """The protocol's ``(t_before, t_after)`` of the pulse in the twin's time unit
        (``2 pi qubit1_linewidth_Hz`` times seconds)."""
        angular_unit = 2 * math.pi * self.rate_unit_Hz
        before, after = self.readout_protocol.times_s()
        return before * angular_unit, after * angular_unit

    def frozen_time_before_pulse(self) -> float:
        """Time the qubits spend under their local baths alone before the pulse, twin unit:
        ``t_before`` when the protocol freezes, else 0 (unfrozen or instantaneous, the steady
        state does not move before the pulse)."""
        return self.readout_times()[0] if self.readout_protocol.freeze else 0.0

    def _t1(self, j: int) -> float | None:
        own = getattr(self, f"qubit{j}_t1_s")
        return own if own is not None else self.t1_s

    def _t2(self, j: int) -> float | None:
        own = getattr(self, f"qubit{j}_t2_s")
        return own if own is not None else self.t2_s

    def _waveguide_t1_s(self, j: int) -> float:
        """T1 of qubit ``j`` with the waveguide alone: ``1 / (2pi linewidth_j)``."""
        return 1.0 / (2 * math.pi * getattr(self, f"qubit{j}_linewidth_Hz"))

    def local_rates(self, j: int) -> LocalRates:
        """Qubit ``j``'s local decay, bath occupation and dephasing, with standard errors (1/s)."""
        if j not in (1, 2):
            raise InputError(f"j={j!r} is outside the allowed values (1, 2)")
        t1, t2 = self._t1(j), self._t2(j)
        t1_err = getattr(self, f"qubit{j}_t1_err_s")
        t2_err = getattr(self, f"qubit{j}_t2_err_s")
        g = 2 * math.pi * getattr(self, f"qubit{j}_linewidth_Hz")
        g_err = 2 * math.pi * getattr(self, f"qubit{j}_linewidth_err_Hz")
        population = getattr(self, f"qubit{j}_excited_population")
        p_err = getattr(self, f"qubit{j}_excited_population_err")
        gamma_local = gamma_local_err = n_err = 0.0
        n = self.local_occupation
        sensitivity = 0.0
        if t1 is not None:
            if population is None:  # the bath occupation n is given: 1/T1 = g (2 n_w + 1) + g_loc (2 n + 1)
                n_w = getattr(self, f"qubit{j}_waveguide_occupation")
                gamma_local = (1.0 / t1 - g * (2 * n_w + 1)) / (2 * n + 1)
                grad = (-1.0 / t1**2 / (2 * n + 1), -(2 * n_w + 1) / (2 * n + 1))  # d/dT1, d/dg
                gamma_local_err = math.hypot(grad[0] * t1_err, grad[1] * g_err)
                if gamma_local > 0:
                    sensitivity = abs(grad[0]) * t1 / gamma_local
                elif gamma_local < 0:
                    gamma_local = 0.0
            else:
                gamma_local = (1 - 2 * population) / t1 - g
                grad_t1, grad_p, grad_g = -(1 - 2 * population) / t1**2, -2.0 / t1, -1.0
                gamma_local_err = math.sqrt((grad_t1 * t1_err) ** 2 + (grad_p * p_err) ** 2 + (grad_g * g_err) ** 2)
                if population > 0 and not gamma_local > 0:
                    raise InputError(
                        f"qubit {j}: T1={t1!r} s, linewidth={g / (2 * math.pi)!r} Hz and excited population "
                        f"{population!r} are inconsistent: the local decay (1 - 2p)/T1 - 2 pi linewidth = "
                        f"{gamma_local:.4g} +- {gamma_local_err:.2g} 1/s must be > 0 to excite the qubit"
                    )
                gamma_local = max(gamma_local, 0.0)
                n_w = getattr(self, f"qubit{j}_waveguide_occupation")
                up = population - g * n_w * t1  # = g_loc n T1, what the local bath must supply
                if up < 0:
                    raise InputError(
                        f"qubit{j}_waveguide_occupation={n_w!r} alone excites qubit {j} above its measured "
                        f"population {population!r}: allowed up to {population / (g * t1):.4g}"
                    )
                denominator = 1 - 2 * population - g * t1  # = g_loc T1
                n = up / denominator if up > 0 else 0.0
                if up > 0:
                    # n = (p - g n_w T1) / (1 - 2 p - g T1): derivatives in p, T1, g.
                    dn = ((1 + 2 * n) / denominator, (n * g - g * n_w) / denominator,
                          (n * t1 - n_w * t1) / denominator)
                    n_err = math.sqrt((dn[0] * p_err) ** 2 + (dn[1] * t1_err) ** 2 + (dn[2] * g_err) ** 2)
                if gamma_local > 0:
                    sensitivity = abs(grad_t1) * t1 / gamma_local
        gamma_phi = gamma_phi_err = 0.0
        if t2 is not None:
            t1_or_waveguide = t1 if t1 is not None else 1.0 / g
            gamma_phi = max(1.0 / t2 - 1.0 / (2 * t1_or_waveguide), 0.0)
            t1_term = t1_err / (2 * t1**2) if t1 is not None else g_err / 2
            gamma_phi_err = math.hypot(t2_err / t2**2, t1_term)
        return LocalRates(gamma_local, gamma_local_err, n, n_err, gamma_phi, gamma_phi_err, sensitivity)

    @property
    def rate_unit_Hz(self) -> float:
        """The twin's rate unit as a linewidth: qubit 1's ``gamma / 2pi``."""
        return self.qubit1_linewidth_Hz

    def to_parameters(self, max_relative_error: float | None = None) -> LinkParameters:
        """Twin parameters, rates in units of qubit 1's waveguide linewidth.

        Local terms per qubit from :meth:`local_rates`. A derived ``gamma_local`` or ``gamma_phi``
        whose relative standard error exceeds :data:`ILL_CONDITIONED_RELATIVE_ERROR` gives an
        :class:`IllConditionedWarning`; above ``max_relative_error`` (if given) a ValueError.
        """
        unit = self.rate_unit_Hz
        angular_unit = 2 * math.pi * unit  # rad/s per twin unit
        local = {}
        for j in (1, 2):
            rates = self.local_rates(j)
            for name, relative in (("gamma_local", rates.gamma_local_relative_err),
                                   ("gamma_phi", rates.gamma_phi_relative_err)):
                if relative <= ILL_CONDITIONED_RELATIVE_ERROR:
                    continue
                value = getattr(rates, f"{name}_per_s")
                err = getattr(rates, f"{name}_err_per_s")
                message = (
                    f"qubit {j}: {name} = {value:.4g} +- {err:.2g} 1/s is ill-conditioned (relative error "
                    f"{relative:.0%}"
                    + (f"; a 1 % error in T1 moves it {rates.t1_sensitivity:.0f} %" if name == "gamma_local" else "")
                    + ")"
                )
                if max_relative_error is not None and relative > max_relative_error:
                    raise InputError(f"{message}: allowed relative error up to {max_relative_error:.0%}")
                warnings.warn(message, IllConditionedWarning, stacklevel=2)
            local[f"gamma_local{j}"] = rates.gamma_local_per_s / angular_unit
            local[f"n_qubit{j}"] = rates.n_qubit
            local[f"gamma_phi{j}"] = rates.gamma_phi_per_s / angular_unit
        # Shared fields too, where both qubits agree (so a symmetric link reads as physics.md's).
        for shared in ("gamma_local", "n_qubit", "gamma_phi"):
            if local[f"{shared}1"] == local[f"{shared}2"]:
                local[shared] = local.pop(f"{shared}1")
                del local[f"{shared}2"]
        in_coupling, n_source = merge_filter_ports(
            self.in_coupling, self.source_occupation, self.filter_internal_loss_Hz / self.bandwidth_Hz,
            bose_einstein(self.filter_internal_temperature_K, self.filter_center_Hz),
        )
        return LinkParameters(
            kappa=self.bandwidth_Hz / unit,
            n_source=n_source,
            in_coupling=in_coupling,
            gamma1=1.0,
            gamma2=self.qubit2_linewidth_Hz / unit,
            delta1=(self.qubit1_frequency_Hz - self.filter_center_Hz) / unit,
            delta2=(self.qubit2_frequency_Hz - self.filter_center_Hz) / unit,
            transmission=10.0 ** (-self.link_loss_dB / 10.0),
            backward_fraction=backward_fraction_from_isolation(self.isolation_dB),
            round_trip_phase01=self.round_trip_phase01_rad,
            round_trip_phase12=self.round_trip_phase12_rad,
            delay=self.delay_s * angular_unit,
            **local,
        )

    def seconds(self, rate: float) -> float:
        """Time constant in s of a twin rate (e.g. ``relaxation_rate``): ``1 / (2pi unit rate)``."""
        _positive("rate", rate)
        return 1.0 / (2 * math.pi * self.rate_unit_Hz * rate)

    def as_dict(self) -> dict:
        return {field.name: getattr(self, field.name) for field in fields(self)}
