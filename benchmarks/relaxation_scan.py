"""The compiled relaxation gap (inverse iteration) against the dense gap over random links.

Run: python benchmarks/relaxation_scan.py [first_seed] [last_seed]   (default 0 90, ~4 min)
Links whose sector has 500-3500 unknowns are kept (small enough for a dense eigen-decomposition);
even seeds resonant, odd seeds detuned. Prints, per link, whether ARPACK had to decide and the
relative error against the dense gap, then the worst error and the fallback count.
"""

from __future__ import annotations

import sys

import numpy as np

from thermalink.simulators import LinkParameters
from thermalink.simulators import relaxation
from thermalink.simulators.exact_solver import fock_cutoff


def random_link(seed: int) -> LinkParameters:
    rng = np.random.default_rng(seed)
    changes = dict(kappa=rng.uniform(0.02, 3.0), n_source=rng.uniform(2, 30), in_coupling=rng.uniform(0.1, 0.9),
                   gamma1=rng.uniform(0.3, 2.0), gamma2=rng.uniform(0.3, 2.0), transmission=rng.uniform(0.3, 1.0),
                   gamma_local=rng.uniform(0, 0.3), n_qubit=rng.uniform(0, 0.5), gamma_phi=rng.uniform(0, 0.3))
    if seed % 2:
        changes.update(delta1=rng.uniform(-1, 1), delta2=rng.uniform(-1, 1))
    return LinkParameters(**changes)


def main(first: int, last: int) -> None:
    arpack = relaxation._sector_eigenvalues_near
    worst, links, fallbacks = 0.0, 0, 0
    for seed in range(first, last):
        p = random_link(seed)
        cutoff = fock_cutoff(p, 1e-6)
        if not 500 <= 16 * (cutoff + 3) <= 3500:
            continue
        used = []
        relaxation._sector_eigenvalues_near = lambda *a, **k: used.append(1) or arpack(*a, **k)
        try:
            rate = relaxation.relaxation_rate(p, method="compiled")
        finally:
            relaxation._sector_eigenvalues_near = arpack
        dense = -np.sort(np.linalg.eigvals(relaxation.sector_generator(p, cutoff).toarray()).real)[-2]
        error = abs(rate - dense) / dense
        worst, links, fallbacks = max(worst, error), links + 1, fallbacks + bool(used)
        print(f"seed {seed:3d} {'detuned ' if seed % 2 else 'resonant'} gap {dense:.6g} "
              f"{'ARPACK decided' if used else 'inverse iteration'} rel error {error:.1e}", flush=True)
    print(f"{links} links: worst relative error {worst:.1e} (tests ask 1e-8), ARPACK decided {fallbacks}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3])) if len(sys.argv) > 2 else main(0, 90)
