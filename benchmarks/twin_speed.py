"""Wall time and peak memory of the exact twin, and of QuTiP's brute force where it fits.

Run: python benchmarks/twin_speed.py  (needs the 'benchmark' extra for the QuTiP columns)

Each case runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own.
Targets (issue): n_source = 2000 in <= 0.2 s and <= 300 MB; cost linear in n_source;
n_source = 10000 in <= 2 s.
"""

from __future__ import annotations

import json
import subprocess
import sys

CASE = r"""
import json, resource, sys, time
import numpy as np
kind, n_source = sys.argv[1], float(sys.argv[2])
from thermalink.simulators import LinkParameters, solve_exact
p = LinkParameters(kappa=0.01, n_source=n_source)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if kind == "exact":
    solve_exact(LinkParameters(kappa=0.01, n_source=10.0))  # warm caches and imports
    start = time.perf_counter()
    result = solve_exact(p)
    seconds = time.perf_counter() - start
    cutoff = result.cutoff
else:
    sys.path.insert(0, "tests")
    from qutip_reference import qubit_steady_state
    from thermalink.simulators import fock_cutoff
    cutoff = fock_cutoff(p)
    start = time.perf_counter()
    qubit_steady_state(p, cutoff)
    seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_MB": peak / 1024, "baseline_MB": before / 1024, "cutoff": cutoff}))
"""


def run(kind: str, n_source: float) -> dict:
    output = subprocess.run([sys.executable, "-c", CASE, kind, str(n_source)], capture_output=True, text=True)
    if output.returncode != 0:
        return {"error": output.stderr.strip().splitlines()[-1] if output.stderr else "failed"}
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    print("exact twin (block cyclic reduction), kappa = 0.01, in_coupling = 0.5")
    print(f"{'n_source':>9} {'cutoff':>7} {'wall s':>8} {'peak MB':>8} {'us/block':>9}")
    exact = {}
    for n_source in (100, 1000, 2000, 10000):
        r = run("exact", n_source)
        exact[n_source] = r
        per_block = r["seconds"] / (r["cutoff"] + 2) * 1e6
        print(f"{n_source:>9} {r['cutoff']:>7} {r['seconds']:>8.3f} {r['peak_MB']:>8.0f} {per_block:>9.1f}")
    ratio = exact[10000]["seconds"] / exact[1000]["seconds"]
    print(f"linearity: time(10000) / time(1000) = {ratio:.2f} (10 for exactly linear cost)")
    try:
        import qutip  # noqa: F401
    except ImportError:
        print("QuTiP not installed: pip install '.[benchmark]' for the brute-force comparison")
        return
    print("\nQuTiP brute force (steadystate, direct) at the same cutoff")
    print(f"{'n_source':>9} {'n_c':>5} {'cutoff':>7} {'wall s':>8} {'peak MB':>8} {'exact s':>8} {'ratio':>7}")
    for n_source in (20, 40):
        brute = run("qutip", n_source)
        mine = run("exact", n_source)
        if "error" in brute:
            print(f"{n_source:>9} brute force failed: {brute['error']}")
            continue
        print(
            f"{n_source:>9} {n_source / 2:>5.0f} {brute['cutoff']:>7} {brute['seconds']:>8.2f} {brute['peak_MB']:>8.0f}"
            f" {mine['seconds']:>8.4f} {brute['seconds'] / mine['seconds']:>7.0f}"
        )


if __name__ == "__main__":
    main()
