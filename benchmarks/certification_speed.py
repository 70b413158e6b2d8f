"""Speed and calibration of the certification: lower confidence bounds and shot budgets.

Prints
* the time to certify one point at the default settings (400 resamples, calibration counts
  resampled), beside the sweep analysis' bootstrap of 200 MLE resamples;
* the coverage of the 95 % lower bounds over many seeded data sets (with its binomial standard
  error) for: a twin state with Bell fidelity 0.75, a weakly entangled Werner state (C = 0.1), a
  separable Werner state on the boundary (C = 0) and a product state without coherence, at several
  shot numbers, with the readout calibration (20000 shots per prepared state) resampled;
* the shot budget for the twin state and the simulated success rate at the budget and at a tenth
  of it (with and without a finite calibration).

The machine is shared: timings are indicative. Usage:
``python benchmarks/certification_speed.py [--data-sets 1000] [--resamples 200] [--seed 1]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm.auto import tqdm

from thermalink.analysis import (
    CERTIFIED_FIGURES,
    bell_state,
    bootstrap,
    lower_confidence_bounds,
    sample_counts,
    shot_budget,
)
from thermalink.analysis.certification import _kron_pair, certify_many
from thermalink.simulators import LinkParameters, steady_state

ASSIGNMENT = np.array([[[0.97, 0.06], [0.03, 0.94]], [[0.985, 0.045], [0.015, 0.955]]])
CALIBRATION_SHOTS = 20_000
STATES = {
    "twin k=0.01 N_h=400 (F_bell 0.751)": steady_state(LinkParameters(kappa=0.01, n_source=400.0)),
    "Werner p=0.4 (C 0.100)": 0.4 * bell_state() + 0.6 * np.eye(4) / 4,
    "Werner p=1/3 (C 0, boundary)": bell_state() / 3 + (2 / 3) * np.eye(4) / 4,
    "product, no coherence": np.kron(np.diag([0.8, 0.2]), np.diag([0.7, 0.3])).astype(complex),
}


def calibration_draws(shots, size, rng):
    return rng.multinomial(shots, np.broadcast_to(_kron_pair(ASSIGNMENT).T, (size, 4, 4)))


def lower_bounds(rho, shots, data_sets, resamples, rng, calibration_shots=CALIBRATION_SHOTS, chunk=250):
    """Lower bounds (dict of arrays) of ``data_sets`` simulated experiments, in chunks."""
    out = {name: [] for name in CERTIFIED_FIGURES}
    for start in range(0, data_sets, chunk):
        size = min(chunk, data_sets - start)
        values = sample_counts(rho, shots, assignment=ASSIGNMENT, rng=rng, size=size).values
        if calibration_shots:
            cal = calibration_draws(calibration_shots, size, rng)
            _, low, _ = certify_many(values, calibration=cal, n_resamples=resamples, rng=rng, estimates=False)
        else:
            _, low, _ = certify_many(values, assignment=ASSIGNMENT, n_resamples=resamples, rng=rng, estimates=False)
        for name in out:
            out[name].append(low[name])
    return {name: np.concatenate(v) for name, v in out.items()}


def rate(hits: np.ndarray) -> str:
    p = float(np.mean(hits))
    return f"{p:.3f} +- {np.sqrt(max(p * (1 - p), 1e-12) / hits.size):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-sets", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    twin = next(iter(STATES.values()))

    counts = sample_counts(twin, 2000, assignment=ASSIGNMENT, rng=rng)
    calibration = calibration_draws(CALIBRATION_SHOTS, 1, rng)[0]
    for _ in range(2):  # warm-up
        lower_confidence_bounds(counts, calibration=calibration, rng=rng)
    times, boot_times = [], []
    for _ in range(10):
        start = time.perf_counter()
        lower_confidence_bounds(counts, calibration=calibration, rng=rng)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        bootstrap(counts, assignment=tuple(ASSIGNMENT), n_resamples=200, rng=rng)
        boot_times.append(time.perf_counter() - start)
    print(f"certify one point (2000 shots x 9 settings, 400 resamples, calibration resampled): "
          f"median {1e3 * np.median(times):.0f} ms (MLE bootstrap of 200 resamples: {1e3 * np.median(boot_times):.0f} ms)")

    print(f"\ncoverage of the 95 % lower bounds, {args.data_sets} data sets each, {args.resamples} resamples, "
          f"calibration {CALIBRATION_SHOTS} shots/state resampled (fraction with bound <= true value):")
    cases = [(name, rho, shots) for name, rho in STATES.items() for shots in (200, 2000)]
    for name, rho, shots in tqdm(cases, desc="coverage", leave=False):
        low = lower_bounds(rho, shots, args.data_sets, args.resamples, rng)
        cells = []
        for figure, fn in CERTIFIED_FIGURES.items():
            truth = float(fn(rho))
            cells.append(f"{figure} {rate(low[figure] <= truth + 1e-12)} (mean gap {np.mean(truth - low[figure]):.4f})")
        tqdm.write(f"  {name:<36s} {shots:>5d} shots: " + "; ".join(cells))

    print("\nshot budget, Bell fidelity > 0.70 at 95 % with 90 % success, twin state, simulated success:")
    for cal_shots in (None, 2000):
        budget = shot_budget(twin, ASSIGNMENT, repetition_time_s=100e-6, settle_time_s=1.0, calibration_shots=cal_shots)
        line = [f"  calibration {'exact' if cal_shots is None else f'{cal_shots} shots/state'}: {budget.summary()}"]
        for shots in (budget.shots_per_setting, budget.shots_per_setting // 10):
            low = lower_bounds(twin, max(shots, 1), args.data_sets, args.resamples, rng, calibration_shots=cal_shots or 0)
            line.append(f"    at {shots} shots: certified in {rate(low['bell_fidelity'] > 0.70)}, "
                        f"predicted {budget.success_at(max(shots, 1)):.3f}")
        tqdm.write("\n".join(line))
    budget = shot_budget(twin, ASSIGNMENT, figure="concurrence")
    print(f"  {budget.summary()}")


if __name__ == "__main__":
    main()
