"""A Keysight N9030B on pyvisa-sim whose traces show the virtual source's filtered noise.

:class:`VirtualKeysightN9030B` runs the real driver (:class:`thermalink.drivers.spectrum_analyzer.
KeysightN9030B`) against its sim for every setting, but computes the trace itself from the current
settings of the source instrument: the filter output carries the Lorentzian occupation
``n(f) = 4 k_in k_out / k^2 * n_source / (1 + (2 (f - f_c) / B)^2)`` (FWHM ``B`` = the filter
bandwidth), amplified with gain ``gain`` (dB) and added noise ``amplifier_noise`` (photons), and
measured in the resolution bandwidth: ``P = h f (n + n_amp) RBW`` in dBm.

With ``radiometer_noise`` on, each trace point fluctuates as a power average of thermal noise
does: relative standard deviation ``1 / sqrt(RBW * dwell)`` (Gaussian; ``dwell = sweep_time /
npts``, the radiometer equation), seeded by ``seed``. It is off by default (noiseless traces).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qcodes import validators as vals
from qcodes.instrument import Instrument

from thermalink.drivers.instrument_lookup import resolve_instrument
from thermalink.drivers.spectrum_analyzer import KeysightN9030B

from thermalink.simulators.lab_units import PLANCK

SIM = "thermalink.drivers.sims:KeysightN9030B.yaml"


class VirtualKeysightN9030B(KeysightN9030B):
    """Simulated N9030B showing the filtered thermal noise of ``source`` (instrument or name).

    Extra parameters: ``gain`` (dB, amplifier chain before the analyzer), ``amplifier_noise``
    (photons, added noise of that chain referred to its input), ``radiometer_noise`` (on/off:
    finite-averaging fluctuations of the trace) and ``seed`` (of those fluctuations).
    """

    def __init__(
        self,
        name: str,
        address: str = "GPIB::18::INSTR",
        source: str | Instrument = "source",
        *,
        gain: float = 60.0,
        amplifier_noise: float = 10.0,
        radiometer_noise: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("pyvisa_sim_file", SIM)
        super().__init__(name, address, **kwargs)
        self._source_ref = source
        self.add_parameter("gain", unit="dB", set_cmd=None, initial_value=gain, vals=vals.Numbers(-50, 120),
                           docstring="Gain of the amplifier chain before the analyzer, dB.")
        self.add_parameter("amplifier_noise", unit="", set_cmd=None, initial_value=amplifier_noise,
                           vals=vals.Numbers(0, 1e6), docstring="Added noise of the chain, photons at its input.")
        self.add_parameter("radiometer_noise", set_cmd=None, initial_value=bool(radiometer_noise), vals=vals.Bool(),
                           docstring="Trace points fluctuate by 1/sqrt(RBW * sweep_time / npts) (relative).")
        self._rng = np.random.default_rng(seed)
        self.add_parameter("seed", set_cmd=lambda value: setattr(self, "_rng", np.random.default_rng(value)),
                           get_cmd=None, initial_cache_value=seed, vals=vals.MultiType(vals.Ints(0), vals.Enum(None)),
                           docstring="Seed of the radiometer noise; setting it restarts the random stream.")

    @property
    def source(self) -> Instrument:
        return resolve_instrument(self._source_ref, self.name, "source")

    def _trace_data(self, trace_number: int) -> np.ndarray:
        frequency = np.asarray(self.sa.freq_axis(), dtype=float)
        source = self.source
        occupation = float(source.occupation())
        in_coupling = float(source.in_coupling())
        bandwidth = float(source.bandwidth())
        center = float(source.center_frequency())
        lorentzian = 1.0 / (1.0 + (2.0 * (frequency - center) / bandwidth) ** 2)
        photons = 4 * in_coupling * (1 - in_coupling) * occupation * lorentzian + self.amplifier_noise()
        res_bw = float(self.sa.res_bw())
        if self.radiometer_noise():
            samples = res_bw * float(self.sa.sweep_time()) / len(frequency)
            photons = photons * np.clip(1.0 + self._rng.standard_normal(len(frequency)) / np.sqrt(samples), 1e-6, None)
        power_W = PLANCK * frequency * photons * res_bw
        return 10 * np.log10(power_W / 1e-3) + self.gain()
