"""Time and peak memory of the exact twin (steady state, relaxation rate), against issue 10's targets.

Run: python benchmarks/twin_speed.py [--repeats 3] [--large] [--no-before]
(QuTiP columns need the 'benchmark' extra; the "before" columns use tests/reference_solvers.py, the
solvers as they were before issue 10.)

Every measurement runs in a fresh subprocess, so its peak memory is its own: ``peak MB`` is the
subprocess's peak resident set (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), interpreter, numpy
and scipy included; ``base MB`` is the same just before the timed call (after imports and a warm-up
solve). Times are medians over ``--repeats`` subprocesses, wall clock (``perf_counter``) and CPU
time of the process (``process_time``). The machine is shared by several sessions: wall times
include waiting for a core, CPU times do not, so compare CPU times when the load is high (the
load average is printed).

``--large`` adds ``relaxation_rate`` at n_source = 1e5 (~1 GB; ``--arpack`` adds the previous
session's ARPACK path there too, ~6 GB; see docs/design.md, "Cost model"). Each case runs with ``method="auto"`` (what the package does: the compiled kernel above
``COMPILED_ABOVE`` blocks when numba is installed), and the large ones once more with ``method="reduction"``
(the pure-numpy fallback). The warm-up imports numba and loads the cached kernel before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CASE = r"""
import json, resource, sys, time
kind, n_source, detuning, method = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sys.path.insert(0, "tests")
from thermalink.simulators import LinkParameters, fock_cutoff, relaxation_rate, solve_exact
p = LinkParameters(kappa=0.01, n_source=n_source, delta1=detuning, delta2=-detuning)
warm = LinkParameters(kappa=0.01, n_source=30.0, delta1=detuning, delta2=-detuning)
if kind == "steady":
    call = lambda: solve_exact(p, method=method).cutoff
    solve_exact(warm, method=method if method != "auto" else "reduction")
    if method in ("auto", "compiled"):  # import numba and load the cached kernel before timing
        solve_exact(warm, method="compiled")
elif kind == "relaxation":
    call = lambda: (relaxation_rate(p, method=method), fock_cutoff(p, 1e-6))[1]
    relaxation_rate(warm, method=method)
    if method in ("auto", "compiled"):
        relaxation_rate(warm.replace(n_source=300.0), method="compiled")
elif kind == "relaxation_arpack":  # the previous session's path: ARPACK on compiled stored factors
    import numpy as np
    from thermalink.simulators.relaxation import _sector_eigenvalues_near
    def call():
        cutoff = fock_cutoff(p, 1e-6)
        _sector_eigenvalues_near(p, cutoff, 0.05 * min(p.kappa, p.gamma1, p.gamma2), method="compiled")
        return cutoff
    relaxation_rate(warm.replace(n_source=300.0), method="compiled")
elif kind == "steady_before":
    from reference_solvers import level_storing_steady_state
    call = lambda: level_storing_steady_state(p, fock_cutoff(p)).cutoff
    level_storing_steady_state(warm, fock_cutoff(warm))
elif kind == "relaxation_before":
    from reference_solvers import sparse_lu_relaxation_rate
    call = lambda: (sparse_lu_relaxation_rate(p), fock_cutoff(p, 1e-6))[1]
    sparse_lu_relaxation_rate(warm)
elif kind == "qutip":
    from qutip_reference import qubit_steady_state
    call = lambda: (qubit_steady_state(p, fock_cutoff(p)), fock_cutoff(p))[1]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
wall, cpu = time.perf_counter(), time.process_time()
cutoff = call()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "cpu": cpu, "peak_MB": peak / 1024, "base_MB": before / 1024, "cutoff": cutoff}))
"""

def run(kind: str, n_source: float, detuning: float = 0.0, method: str = "auto") -> dict:
    output = subprocess.run(
        [sys.executable, "-c", CASE, kind, str(n_source), str(detuning), method], capture_output=True, text=True
    )
    if output.returncode != 0:
        lines = output.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {output.returncode}"}
    return json.loads(output.stdout.strip().splitlines()[-1])


def measure(kind: str, n_source: float, detuning: float = 0.0, repeats: int = 3, method: str = "auto") -> dict:
    """Medians over ``repeats`` fresh subprocesses (the largest peak memory of them)."""
    results = [run(kind, n_source, detuning, method) for _ in range(repeats)]
    good = [r for r in results if "error" not in r]
    if not good:
        return results[0]
    return {
        "wall": statistics.median(r["wall"] for r in good),
        "cpu": statistics.median(r["cpu"] for r in good),
        "peak_MB": max(r["peak_MB"] for r in good),
        "base_MB": max(r["base_MB"] for r in good),
        "cutoff": good[0]["cutoff"],
        "runs": len(good),
    }


def fmt(r: dict) -> str:
    if "error" in r:
        return f"{'failed: ' + r['error'][:60]:<44}"
    return f"{r['wall']:>8.3f} {r['cpu']:>8.3f} {r['peak_MB']:>8.0f} {r['base_MB']:>7.0f} {r['cutoff']:>8}"


HEADER = f"{'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'base MB':>7} {'cutoff':>8}"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="subprocesses per case (median; default 3)")
    parser.add_argument("--large", action="store_true", help="also relaxation_rate at n_source = 1e5 (~1 GB, ~40 s)")
    parser.add_argument("--arpack", action="store_true", help="with --large: the ARPACK path at 1e5 too (~6 GB)")
    parser.add_argument("--no-before", action="store_true", help="skip the pre-issue-10 solvers")
    args = parser.parse_args()
    repeats = args.repeats
    print(f"kappa = 0.01, in_coupling = 0.5 (n_c = n_source / 2); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores; medians of {repeats} fresh subprocesses unless stated. Targets are "
          "judged on CPU time (wall includes waiting for a core on the shared machine).")
    print("method: auto = what the package runs (compiled kernel above COMPILED_ABOVE = 500 blocks when numba is "
          "installed); reduction = the pure-numpy path (the fallback and the previous session's solver)")

    print("\nrelaxation_rate (cutoff at tol 1e-6) against the steady state (cutoff at tol 1e-8)")
    print(f"{'n_source':>9} {'what':<26} {HEADER}   target")
    sizes = (1000, 10000) + ((100000,) if args.large else ())
    for n_source in sizes:
        reps = repeats if n_source <= 10000 else 1
        steady = measure("steady", n_source, repeats=reps)
        relax = measure("relaxation", n_source, repeats=reps)
        print(f"{n_source:>9.0f} {'steady_state':<26} {fmt(steady)}")
        target = "<= 1.5x the steady state" + (", <= 1 GB" if n_source >= 1e5 else "")
        print(f"{n_source:>9.0f} {'relaxation_rate':<26} {fmt(relax)}   {target}")
        if "error" not in relax and "error" not in steady:
            ratio = relax["cpu"] / steady["cpu"]
            ok = ratio <= 1.5 and (n_source < 1e5 or relax["peak_MB"] <= 1024)
            print(f"{'':>9} {'  ratio to steady':<26} {relax['wall'] / steady['wall']:>8.1f} "
                  f"{ratio:>8.1f}   {verdict(ok)}")
        if n_source <= 10000:
            reference = measure("relaxation", n_source, repeats=1, method="reduction")
            print(f"{n_source:>9.0f} {'relaxation (reduction)':<26} {fmt(reference)}   (ARPACK, numpy solves, 1 run)")
        if n_source <= 10000 or args.arpack:
            arpack = measure("relaxation_arpack", n_source, repeats=1)
            print(f"{n_source:>9.0f} {'relaxation (ARPACK)':<26} {fmt(arpack)}   "
                  "(ARPACK on compiled stored factors: the previous session's path, 1 run)")
        if not args.no_before and n_source <= 10000:
            print(f"{n_source:>9.0f} {'relaxation (before)':<26} {fmt(measure('relaxation_before', n_source, repeats=1))}"
                  "   (sparse LU of the whole sector, 1 run)")
    # Detuned (one chain of all 16 parameters for both solvers), where the filter's mode is the gap.
    steady = measure("steady", 1000, detuning=0.3, repeats=repeats)
    relax = measure("relaxation", 1000, detuning=0.3, repeats=repeats)
    print(f"{1000:>9.0f} {'steady_state, detuned':<26} {fmt(steady)}")
    print(f"{1000:>9.0f} {'relaxation_rate, detuned':<26} {fmt(relax)}   <= 1.5x the steady state")
    if "error" not in relax and "error" not in steady:
        ratio = relax["cpu"] / steady["cpu"]
        print(f"{'':>9} {'  ratio to steady':<26} {relax['wall'] / steady['wall']:>8.1f} {ratio:>8.1f}   "
              f"{verdict(ratio <= 1.5)}")

    print("\nsteady_state (solve_exact)")
    print(f"{'n_source':>9} {'what':<26} {HEADER}   target")
    for n_source, target in ((100, ""), (1000, ""), (2000, "<= 0.2 s, <= 300 MB (earlier issue)"),
                             (10000, "<= 2 s (earlier issue)")):
        r = measure("steady", n_source, repeats=repeats)
        per_block = f"{r['cpu'] / (r['cutoff'] + 3) * 1e6:.1f} us/block (cpu)" if "error" not in r else ""
        print(f"{n_source:>9.0f} {'resonant':<26} {fmt(r)}   {target or per_block}")
    resonant = measure("steady", 1e5, repeats=repeats)
    detuned = measure("steady", 1e5, detuning=0.3, repeats=repeats)
    per_block = resonant["cpu"] / (resonant["cutoff"] + 3) * 1e6 if "error" not in resonant else float("nan")
    ok = "error" not in resonant and resonant["cpu"] <= 3.0 and resonant["peak_MB"] <= 300
    print(f"{1e5:>9.0f} {'resonant':<26} {fmt(resonant)}   <= 3 s, <= 300 MB: {verdict(ok)} "
          f"({per_block:.1f} us/block cpu)")
    print(f"{1e5:>9.0f} {'detuned (0.3, -0.3)':<26} {fmt(detuned)}   <= 1.5x resonant")
    if "error" not in resonant and "error" not in detuned:
        ratio = detuned["cpu"] / resonant["cpu"]
        print(f"{'':>9} {'  detuned / resonant':<26} {detuned['wall'] / resonant['wall']:>8.1f} "
              f"{ratio:>8.1f}   {verdict(ratio <= 1.5)}")
    for detuning, label in ((0.0, "resonant (reduction)"), (0.3, "detuned (reduction)")):
        r = measure("steady", 1e5, detuning=detuning, repeats=1, method="reduction")
        print(f"{1e5:>9.0f} {label:<26} {fmt(r)}   (numpy cyclic reduction, 1 run)")
    if not args.no_before:
        print(f"{1e5:>9.0f} {'resonant (before)':<26} {fmt(measure('steady_before', 1e5, repeats=1))}"
              "   (every level kept, 1 run)")
    big = measure("steady", 1e6, repeats=1)
    ok = "error" not in big and big["cpu"] <= 30.0 and big["peak_MB"] <= 1024
    print(f"{1e6:>9.0f} {'resonant (1 run)':<26} {fmt(big)}   <= 30 s, <= 1 GB: {verdict(ok)}")
    if "error" not in big and "error" not in resonant:
        print(f"linearity: cpu time(1e6) / time(1e5) = {big['cpu'] / resonant['cpu']:.1f} (10 for exactly linear)")

    try:
        import qutip  # noqa: F401
    except ImportError:
        print("\nQuTiP not installed: pip install '.[benchmark]' for the brute-force comparison")
        return
    print("\nQuTiP brute force (steadystate, direct) at the same cutoff")
    print(f"{'n_source':>9} {'what':<26} {HEADER}")
    for n_source in (20, 40):
        print(f"{n_source:>9} {'QuTiP':<26} {fmt(measure('qutip', n_source, repeats=1))}")
        mine = measure("steady", n_source, repeats=repeats)
        print(f"{n_source:>9} {'solve_exact':<26} {fmt(mine)}")


if __name__ == "__main__":
    main()
