"""Time of a 9-setting x 2000-shot virtual measurement once the twin's state is known.

Run: ``python benchmarks/virtual_readout_speed.py``. Loads the simulated station, puts the source
at a narrow, hot operating point, computes the state once, then times ``readout.measure`` (which
still reads the source's current settings over pyvisa-sim to check the cached state) and the bare
sampler (measurement model + multinomial draw).
"""

from __future__ import annotations

import time

import numpy as np
import qcodes as qc

from thermalink.analysis.tomography_data import PAULI_SETTINGS
from thermalink.station_configs import station_config_path


def best_of(function, repeats: int = 50) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def main() -> None:
    station = qc.Station(config_file=str(station_config_path("simulated")))
    station.load_all_instruments()
    source, readout = station.components["source"], station.components["readout"]
    source.bandwidth(10e3)
    source.attenuation(0)
    source.output(True)
    source.temperature(29.0)
    start = time.perf_counter()
    rho = readout.state()
    print(f"steady state (first call, exact twin): {1e3 * (time.perf_counter() - start):8.2f} ms")
    best, median = best_of(lambda: readout.measure(PAULI_SETTINGS, shots=2000))
    print(f"readout.measure, 9 settings x 2000 shots:  best {1e3 * best:6.2f} ms, median {1e3 * median:6.2f} ms")
    best, median = best_of(lambda: readout._sample(rho, PAULI_SETTINGS, 2000))
    print(f"sampler alone, 9 settings x 2000 shots:    best {1e3 * best:6.3f} ms, median {1e3 * median:6.3f} ms")
    station.close_all_registered_instruments()


if __name__ == "__main__":
    main()
