"""Where the MLE sits in its own parametric-bootstrap interval (the summary table's concurrence [95% CI]).

Run: python benchmarks/bootstrap_boundary.py [--data-sets 10]
For entangled, border and separable states, seeded data sets of 2000 shots per setting, each
bootstrapped as a run's analysis does (MLE, 200 resamples, equal-tailed 95 % percentile interval):
how often the estimate sits at or above its interval's upper end, how often the interval is
[0, 0], the mean fraction of resamples below the estimate, and the first intervals. A few seconds.
"""

from __future__ import annotations

import argparse

import numpy as np

from thermalink.analysis import bell_state, bootstrap, concurrence, sample_counts
from thermalink.simulators import LinkParameters, steady_state


def werner(p: float) -> np.ndarray:
    return p * bell_state() + (1 - p) * np.eye(4) / 4


CASES = {
    "Werner p=0.8": werner(0.8),
    "twin kappa=0.01 N_h=1000": steady_state(LinkParameters(kappa=0.01, n_source=1000.0)),
    "Werner p=0.4": werner(0.4),
    "Werner p=0.36": werner(0.36),
    "Werner p=1/3 (separable border)": werner(1 / 3),
    "Werner p=0.2 (separable)": werner(0.2),
    "twin kappa=1 N_h=100 (separable)": steady_state(LinkParameters(kappa=1.0, n_source=100.0)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-sets", type=int, default=10, help="seeded data sets per state (default: 10)")
    args = parser.parse_args()
    print(f"{'state':>34} {'true C':>7} {'est >= high':>11} {'[0, 0]':>6} {'below est':>9}  first intervals")
    for name, rho in CASES.items():
        at_top = zero = 0
        below, shown = [], []
        for seed in range(args.data_sets):
            result = bootstrap(sample_counts(rho, 2000, rng=seed), n_resamples=200, rng=seed + 100)
            low, high = result.intervals["concurrence"]
            estimate = result.estimate["concurrence"]
            at_top += estimate >= high
            zero += low == high == 0.0
            below.append(np.mean(result.samples["concurrence"] < estimate))
            shown.append(f"{estimate:.3f} [{low:.3f}, {high:.3f}]")
        print(f"{name:>34} {concurrence(rho):>7.3f} {at_top:>8d}/{args.data_sets:<2d} {zero:>6d} "
              f"{np.mean(below):>9.2f}  {'; '.join(shown[:2])}")


if __name__ == "__main__":
    main()
