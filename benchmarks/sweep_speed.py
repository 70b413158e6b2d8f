"""Wall time of the default experiment on the simulated station, split by phase.

Run: python benchmarks/sweep_speed.py
A 21-point bandwidth sweep (1 kHz - 100 MHz, source at 40 K), 9 settings x 2000 shots per point,
saved to a fresh QCoDeS database and analysed (MLE, 200 bootstrap resamples, twin goodness of
fit). Target (issue): at most 15 s wall on the 2-core machine, including saving and analysis.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.sweep_analysis import SweepAnalysis
from thermalink.experiments.sweep_plan import bandwidth_sweep, log_range
from thermalink.experiments.sweep_runner import run_sweep
from thermalink.experiments.sweep_storage import database


def main() -> None:
    start = time.perf_counter()
    lab = LabStation.from_config()
    loaded = time.perf_counter()
    plan = bandwidth_sweep(log_range(1e3, 1e8, 21), temperature_K=40.0, attenuation_dB=0.0, shots=2000)
    with tempfile.TemporaryDirectory() as folder:
        conn = database(Path(folder) / "bench.db")
        analyse_seconds: list[float] = []
        read_seconds: list[float] = []  # the part of each live analysis that reads stored rows
        analyses: dict[int, SweepAnalysis] = {}

        def analyse(index, run):
            t = time.perf_counter()
            analysis = analyses.setdefault(run.run_id, SweepAnalysis(conn, run))
            analysis._counts(index)
            read_seconds.append(time.perf_counter() - t)
            analysis.point(index)
            analyse_seconds.append(time.perf_counter() - t)

        swept = time.perf_counter()
        outcome = run_sweep(lab, plan, conn, progress=False, on_point=analyse)
        measured = time.perf_counter()
        analysis = analyses[outcome.run_id]
        analysis.save()
        saved = time.perf_counter()
    print("21-point bandwidth sweep, 9 settings x 2000 shots, simulated station")
    print(f"station load: {loaded - start:.2f} s (not counted)")
    print(f"sweep incl. per-point analysis: {measured - swept:.2f} s; saving the analysis run: {saved - measured:.2f} s")
    print(f"total wall (sweep + analysis + saving): {saved - swept:.2f} s   (target <= 15 s)")
    phases = {**outcome.timings, "analyse": analyse_seconds}
    print("time per point (ms): " + ", ".join(f"{k} {1e3 * np.mean(v):.1f}" for k, v in phases.items()))
    print(f"of which reading stored rows (ms): first 5 points {1e3 * np.mean(read_seconds[:5]):.1f}, "
          f"last 5 points {1e3 * np.mean(read_seconds[-5:]):.1f}, all {1e3 * np.sum(read_seconds):.0f} in total")
    concurrences = [analysis.results[i]["concurrence"] for i in sorted(analysis.results)]
    consistent = sum(r["consistent"] for r in analysis.results.values())
    print(f"max measured concurrence {max(concurrences):.3f}; {consistent:.0f}/21 points consistent with the twin")


if __name__ == "__main__":
    main()
