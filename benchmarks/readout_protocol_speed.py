"""Cost of one measured-state computation of the readout protocol, frozen and unfrozen.

Run: ``python benchmarks/readout_protocol_speed.py``. For the simulated station's qubits
(gamma/2pi = 1 MHz, T1 155 ns, T2 300 ns, 1 % residual excitation) with the protocol of
simulated.yaml (freeze 20 ns, pre-rotation 40 ns, integration 1 us), at a few source occupations:
the steady state alone, the frozen measured state (closed-form local channel on it), and the
unfrozen one (sparse LU of the sector + ``expm_multiply`` over the 9 Pauli settings). CPU time
of fresh computations (caches cleared), median of ``--repeats``. Targets beside them: the frozen
protocol must cost next to nothing beside the steady state (<= 1 ms extra); the unfrozen one is
kept out of the default paths and must stay within seconds up to its cutoff limit.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from thermalink.simulators.conventions import PAULI_SETTINGS
from thermalink.simulators.exact_solver import fock_cutoff
from thermalink.simulators.lab_units import LabLink
from thermalink.simulators.virtual_lab import twin_cache


def link(occupation: float, freeze: bool) -> LabLink:
    return LabLink(bandwidth_Hz=30e3, source_occupation=occupation, filter_center_Hz=6e9,
                   qubit1_frequency_Hz=6.0002e9, qubit2_frequency_Hz=5.9998e9, qubit1_linewidth_Hz=1e6,
                   qubit2_linewidth_Hz=1e6, t1_s=155e-9, t2_s=300e-9, qubit1_excited_population=0.01,
                   qubit2_excited_population=0.01, link_loss_dB=0.1, readout_freeze=freeze,
                   readout_freeze_time_s=20e-9, readout_prerotation_time_s=40e-9, readout_integration_time_s=1e-6)


def clear() -> None:
    for cached in (twin_cache._twin_state, twin_cache._twin_measured_state, twin_cache._link_populations):
        cached.cache_clear()


def cpu(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        clear()
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'N_h':>6} {'cutoff':>6} {'steady ms':>10} {'frozen +ms':>11} {'unfrozen ms':>12}   target")
    for occupation in (1.0, 10.0, 50.0):
        frozen, unfrozen = link(occupation, True), link(occupation, False)
        cutoff = fock_cutoff(frozen.to_parameters())
        steady = cpu(lambda: twin_cache.twin_state(frozen), args.repeats)
        with_frozen = cpu(lambda: twin_cache.twin_measured_state(frozen).rho, args.repeats)
        with_unfrozen = cpu(lambda: twin_cache.twin_measured_state(unfrozen).populations(PAULI_SETTINGS),
                            args.repeats)
        print(f"{occupation:6.0f} {cutoff:6d} {1e3 * steady:10.2f} {1e3 * (with_frozen - steady):11.2f} "
              f"{1e3 * with_unfrozen:12.1f}   frozen extra <= 1 ms; unfrozen seconds at most")


if __name__ == "__main__":
    main()
