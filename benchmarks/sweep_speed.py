"""Wall time of the default experiment on the simulated station, split by phase.

Run: python benchmarks/sweep_speed.py
A 21-point bandwidth sweep (1 kHz - 100 MHz, source at 40 K), 9 settings x 2000 shots per point,
saved to a fresh QCoDeS database and analysed (MLE, 200 bootstrap resamples, twin goodness of
fit). Target (issue): at most 15 s wall on the 2-core machine, including saving and analysis.

The live analysis of one point (MLE, 200 bootstrap resamples, goodness of fit with 200 null
samples) is timed per point against the target of issue 10 (<= 30 ms), and the same points are
analysed again in the same run with the previous projected-gradient MLE for comparison. The
machine is shared: per-point figures are medians (mean and max beside them), with the load
average printed.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

import thermalink.analysis.tomography as tomography
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.sweep_analysis import SweepAnalysis
from thermalink.experiments.sweep_plan import bandwidth_sweep, log_range
from thermalink.experiments.sweep_runner import run_sweep
from thermalink.experiments.sweep_storage import database


def _previous_mle(values, model, *, tol, max_iter, start=None, **options):
    with tomography.single_threaded_blas():
        start = tomography._fit(values, model, "projected_least_squares")[0] if start is None else start
        return tomography._mle_reference(values, model, tol, max_iter, start=start)


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
        live_seconds = [a - r for a, r in zip(analyse_seconds, read_seconds)]
        # the same analyses again, timed in CPU time too (less sensitive to the shared machine's load)
        cpu = {"thermalink": [], "previous projected-gradient MLE": []}
        again = SweepAnalysis(conn, analysis.run)
        for index in sorted(analysis.results):
            again._counts(index)
            t = time.process_time()
            again.point(index)
            cpu["thermalink"].append(time.process_time() - t)
        previous_seconds = []
        fast = tomography.ESTIMATORS["mle"]
        tomography.ESTIMATORS["mle"] = _previous_mle  # benchmark only: the algorithm before the Newton path
        try:
            previous = SweepAnalysis(conn, analysis.run)
            for index in sorted(analysis.results):
                previous._counts(index)
                t, c = time.perf_counter(), time.process_time()
                previous.point(index)
                previous_seconds.append(time.perf_counter() - t)
                cpu["previous projected-gradient MLE"].append(time.process_time() - c)
        finally:
            tomography.ESTIMATORS["mle"] = fast
    print("21-point bandwidth sweep, 9 settings x 2000 shots, simulated station")
    print(f"station load: {loaded - start:.2f} s (not counted)")
    print(f"sweep incl. per-point analysis: {measured - swept:.2f} s; saving the analysis run: {saved - measured:.2f} s")
    print(f"total wall (sweep + analysis + saving): {saved - swept:.2f} s   (target <= 15 s)")
    phases = {**outcome.timings, "analyse": analyse_seconds}
    print("time per point (ms): " + ", ".join(f"{k} {1e3 * np.mean(v):.1f}" for k, v in phases.items()))
    print(f"of which reading stored rows (ms): first 5 points {1e3 * np.mean(read_seconds[:5]):.1f}, "
          f"last 5 points {1e3 * np.mean(read_seconds[-5:]):.1f}, all {1e3 * np.sum(read_seconds):.0f} in total")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"live analysis per point (MLE + 200 bootstrap + goodness of fit, 200 null samples), shared 2-core "
          f"machine, load average {load}:")
    for label, values in (("thermalink", live_seconds), ("previous projected-gradient MLE", previous_seconds)):
        ms = 1e3 * np.array(values)
        cpu_ms = 1e3 * np.array(cpu[label])
        print(f"  {label:<32} wall median {np.median(ms):6.1f} ms, mean {ms.mean():6.1f}, max {ms.max():6.1f}; "
              f"CPU median {np.median(cpu_ms):6.1f} ms, mean {cpu_ms.mean():6.1f}"
              + ("   (target <= 30 ms per point)" if label == "thermalink" else ""))
    same = all(analysis.results[i]["consistent"] == previous.results[i]["consistent"] for i in analysis.results)
    print(f"  verdicts identical with both MLEs: {same}")
    concurrences = [analysis.results[i]["concurrence"] for i in sorted(analysis.results)]
    consistent = sum(r["consistent"] for r in analysis.results.values())
    print(f"max measured concurrence {max(concurrences):.3f}; {consistent:.0f}/21 points consistent with the twin")


if __name__ == "__main__":
    main()
