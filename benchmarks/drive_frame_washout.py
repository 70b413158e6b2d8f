"""Shot-averaged concurrence with and without a common drive-oscillator reset (issue 13, item 1).

Run: ``python benchmarks/drive_frame_washout.py [shots]``. At the template's operating point
(qubits from ``lab_template.yaml``, 10 kHz filter at 6 GHz, n_source = 100, T = 100 us) the twin's
steady state is averaged over the drive frames of one 9-setting acquisition of ``shots`` shots per
setting (:func:`thermalink.simulators.virtual_lab.readout.drive_frame_phases`), for several qubit
splittings ``f1 - f2``, with the oscillators reset on every trigger (the SHFQC+ driver) and
free-running. It prints the exact shot-averaged concurrence and the one reconstructed (MLE) from
virtual-readout counts (seeded, no readout errors). No timing: the numbers do not depend on the
machine.
"""

from __future__ import annotations

import sys

import numpy as np

from thermalink.analysis import concurrence, reconstruct
from thermalink.analysis.tomography_data import PAULI_SETTINGS, measurement_model
from thermalink.simulators.conventions import counts_array
from thermalink.simulators.lab_units import LabLink
from thermalink.simulators.virtual_lab.twin_cache import twin_state
from thermalink.simulators.virtual_lab.readout import drive_frame_phases, in_drive_frames, sample_single_shots

REPETITION_TIME_S = 100e-6
CENTER_HZ = 6.0e9


def link_for(splitting_Hz: float) -> LabLink:
    return LabLink(
        bandwidth_Hz=10e3, source_occupation=100.0, filter_center_Hz=CENTER_HZ,
        qubit1_frequency_Hz=CENTER_HZ + splitting_Hz / 2, qubit2_frequency_Hz=CENTER_HZ - splitting_Hz / 2,
        qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6, in_coupling=0.5, link_loss_dB=0.1,
        t1_s=1.55e-7, t2_s=3e-7, local_occupation=0.01,
    )


def main(shots: int = 2000) -> None:
    rng = np.random.default_rng(13)
    model = measurement_model(PAULI_SETTINGS)
    n = len(PAULI_SETTINGS) * shots
    setting_index = np.repeat(np.arange(len(PAULI_SETTINGS)), shots)
    print(f"9 settings x {shots} shots, T = {REPETITION_TIME_S * 1e6:g} us, n_source = 100, 10 kHz filter")
    print(f"{'f1 - f2 (kHz)':>14} {'(f1-f2) T':>10} {'C steady':>9} {'C reset':>8} {'C free':>8} "
          f"{'C_MLE reset':>12} {'C_MLE free':>11}")
    for splitting in (400.00e3, 399.99e3, 400.01e3, 399.9e3, 422e3, 410e3):
        link = link_for(splitting)
        rho = twin_state(link)
        row = [splitting / 1e3, splitting * REPETITION_TIME_S, concurrence(rho)]
        estimates = []
        for reset in (True, False):
            frames = in_drive_frames(rho, drive_frame_phases(link, n, REPETITION_TIME_S, reset))
            row.append(concurrence(frames.mean(axis=0)))
            outcomes = sample_single_shots(frames, setting_index, model, rng)
            counts = np.bincount(4 * setting_index + outcomes, minlength=4 * len(PAULI_SETTINGS)).reshape(-1, 4)
            estimates.append(concurrence(reconstruct(counts_array(counts, PAULI_SETTINGS)).density_matrix))
        print(f"{row[0]:14.2f} {row[1]:10.3f} {row[2]:9.3f} {row[3]:8.3f} {row[4]:8.3f} "
              f"{estimates[0]:12.3f} {estimates[1]:11.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
