"""The one conversion layer between lab quantities (Hz, K, dB, s) and the unit-free twin.

* Linewidths are quoted as ``kappa / 2pi`` and ``gamma / 2pi`` in Hz (FWHM, energy decay).
* The twin's rate unit is qubit 1's waveguide linewidth: ``gamma1 = 1`` after conversion, so a
  twin rate ``r`` is the angular rate ``r * 2pi * qubit1_linewidth_Hz`` in rad/s.
* Detunings ``delta_j = 2pi (f_qubit_j - f_filter)`` in that same unit.
* Attenuations are in dB (power); ``A = 10**(dB/10) >= 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
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


@dataclass(frozen=True)
class LabLink:
    """One operating point of the experiment in lab units.

    Frequencies and linewidths in Hz (linewidth = FWHM / 2pi convention: ``kappa/2pi``), times in
    s, loss in dB. ``t1_s`` / ``t2_s`` are the measured T1 and Ramsey T2 (taken equal for both
    qubits); the local decay is what T1 leaves after the waveguide decay, the pure dephasing is
    ``1/T2 - 1/(2 T1)``.
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

    def __post_init__(self) -> None:
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
        waveguide_t1 = self._waveguide_t1_s
        if self.t1_s is not None and not 0 < self.t1_s <= waveguide_t1:
            raise InputError(
                f"t1_s={self.t1_s!r} is outside the allowed range (0, {waveguide_t1:.4g}] s: "
                "T1 cannot exceed the waveguide-limited 1/(2 pi linewidth)"
            )
        if self.t2_s is not None:
            t1 = self.t1_s if self.t1_s is not None else waveguide_t1
            if not 0 < self.t2_s <= 2 * t1:
                raise InputError(f"t2_s={self.t2_s!r} is outside the allowed range (0, 2 T1 = {2 * t1:.4g}] s")

    @property
    def _waveguide_t1_s(self) -> float:
        """T1 of the faster-decaying qubit with the waveguide alone: ``1 / (2pi max linewidth)``.

        The model has one local bath for both qubits, so measured T1/T2 are referred to it.
        """
        return 1.0 / (2 * math.pi * max(self.qubit1_linewidth_Hz, self.qubit2_linewidth_Hz))

    @property
    def rate_unit_Hz(self) -> float:
        """The twin's rate unit as a linewidth: qubit 1's ``gamma / 2pi``."""
        return self.qubit1_linewidth_Hz

    def to_parameters(self) -> LinkParameters:
        """Twin parameters, rates in units of qubit 1's waveguide linewidth."""
        unit = self.rate_unit_Hz
        angular_unit = 2 * math.pi * unit  # rad/s per twin unit
        gamma_local = gamma_phi = 0.0
        if self.t1_s is not None:
            # 1/T1 = gamma_wg + gamma_local (2 n_q + 1): the local bath's total relaxation rate.
            local_relaxation = max(1.0 / self.t1_s - 1.0 / self._waveguide_t1_s, 0.0)  # 1/s
            gamma_local = local_relaxation / (2 * self.local_occupation + 1) / angular_unit
        if self.t2_s is not None:
            t1 = self.t1_s if self.t1_s is not None else self._waveguide_t1_s
            gamma_phi = max(1.0 / self.t2_s - 1.0 / (2 * t1), 0.0) / angular_unit
        return LinkParameters(
            kappa=self.bandwidth_Hz / unit,
            n_source=self.source_occupation,
            in_coupling=self.in_coupling,
            gamma1=1.0,
            gamma2=self.qubit2_linewidth_Hz / unit,
            delta1=(self.qubit1_frequency_Hz - self.filter_center_Hz) / unit,
            delta2=(self.qubit2_frequency_Hz - self.filter_center_Hz) / unit,
            transmission=10.0 ** (-self.link_loss_dB / 10.0),
            gamma_local=gamma_local,
            n_qubit=self.local_occupation,
            gamma_phi=gamma_phi,
        )

    def seconds(self, rate: float) -> float:
        """Time constant in s of a twin rate (e.g. ``relaxation_rate``): ``1 / (2pi unit rate)``."""
        _positive("rate", rate)
        return 1.0 / (2 * math.pi * self.rate_unit_Hz * rate)

    def as_dict(self) -> dict:
        return {field.name: getattr(self, field.name) for field in fields(self)}
