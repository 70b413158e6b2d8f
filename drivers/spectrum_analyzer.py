"""Keysight N9030B spectrum analyzer for characterising the filtered thermal noise.

QCoDeS' ``KeysightN9030B`` transfers traces as binary REAL,64 blocks, which pyvisa-sim cannot
serve. This subclass switches the trace transfer to ASCII (``FORM ASC``, a standard SCPI format of
the N9030B) so the same code runs on the instrument and on its sim
(``thermalink.drivers.sims:KeysightN9030B.yaml``), and adds :meth:`KeysightN9030B.noise_spectrum`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from qcodes.instrument_drivers.Keysight import KeysightN9030B as _QcodesKeysightN9030B

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from qcodes.instrument import VisaInstrumentKWArgs


class KeysightN9030B(_QcodesKeysightN9030B):
    """N9030B with ASCII traces; ``sa.trace`` (dBm) over ``sa.freq_axis`` (Hz) as in QCoDeS."""

    def __init__(self, name: str, address: str, **kwargs: Unpack[VisaInstrumentKWArgs]) -> None:
        super().__init__(name, address, **kwargs)
        self.write("FORM ASC")
        if "sa" in self.submodules:
            self.sa.trace.get_data = self._trace_data

    def _trace_data(self, trace_number: int) -> np.ndarray:
        """Powers (dBm) of trace ``trace_number`` of the current measurement.

        A ``READ`` starts a sweep and answers when it ends, so (as in QCoDeS' own driver) the VISA
        timeout is raised to the sweep time plus the mode's additional wait for that query.
        """
        query = f":{self.measurement()}{trace_number}?"
        if self.auto_sweep():
            with self.timeout.set_to(self.sa.sweep_time() + self.sa._additional_wait):
                values = self.visa_handle.query_ascii_values(":READ" + query)
        else:
            values = self.visa_handle.query_ascii_values(":FETC" + query)
        return np.asarray(values, dtype=float).reshape(-1, 2)[:, 1]

    def noise_spectrum(self, center: float, span: float, npts: int = 101) -> xr.DataArray:
        """Swept spectrum (dBm) around ``center`` (Hz) over ``span`` (Hz) with ``npts`` points."""
        self.sa.setup_swept_sa_sweep(center - span / 2, center + span / 2, npts)
        power = self.sa.trace()
        frequency = self.sa.freq_axis()
        return xr.DataArray(
            power, dims=("frequency",), coords={"frequency": frequency}, name="power",
            attrs={"units": "dBm", "frequency_units": "Hz", "res_bw_Hz": float(self.sa.res_bw())},
        )
