"""Wall time and twin solves of the experiment design: the default ``thermalink design`` and a
20 x 20 requirement map.

Run: python benchmarks/design_speed.py [--points 20] [--workers 2] [--skip-map]

Issue 9's target: ``thermalink design`` with no arguments in under a minute on 2 cores. The machine
may be shared with other work: the load average is printed with the times, and CPU time (this
process and its workers) next to the wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20, help="points per requirement-map axis (20)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requirements", nargs=2, default=["t1", "t2"])
    parser.add_argument("--skip-map", action="store_true")
    args = parser.parse_args()

    from thermalink.experiments.design_advice import advise
    from thermalink.experiments.design_command import default_axis
    from thermalink.experiments.operating_point import optimise_operating_point
    from thermalink.experiments.requirement_map import requirement_map
    from thermalink.experiments.station_limits import StationLimits

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (shared machine), {args.workers} workers")
    start, cpu = time.perf_counter(), cpu_seconds()
    limits = StationLimits.from_config()
    loaded = time.perf_counter()
    point = optimise_operating_point(limits)
    optimised = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as executor:
        advice = advise(point, limits, executor=executor)
    done = time.perf_counter()
    print("default design (simulated station, Bell fidelity, target 0.70):")
    print(f"  station load {loaded - start:6.2f} s")
    print(f"  optimum      {optimised - loaded:6.2f} s  {point.twin_solves:6d} twin solves  (F = {point.value:.4f})")
    print(f"  advice       {done - optimised:6.2f} s  {advice.twin_solves - point.twin_solves:6d} twin solves")
    print(f"  total        {done - start:6.2f} s wall, {cpu_seconds() - cpu:6.2f} s CPU, "
          f"{advice.twin_solves} twin solves, load average now {os.getloadavg()[0]:.2f}")
    if args.skip_map:
        return
    axes = {name: default_axis(limits, name, args.points) for name in args.requirements}
    start, cpu = time.perf_counter(), cpu_seconds()
    with ProcessPoolExecutor(args.workers) as executor:
        dataset = requirement_map(limits, executor=executor, **axes)
    wall = time.perf_counter() - start
    points = dataset["best"].size
    solves = dataset.attrs["total_twin_solves"]
    print(f"requirement map {' x '.join(args.requirements)} ({args.points} x {args.points} = {points} points):")
    print(f"  {wall:.1f} s wall, {cpu_seconds() - cpu:.1f} s CPU, {solves} twin solves "
          f"({solves / max(points, 1):.0f} per point, {wall / max(points, 1) * args.workers:.2f} worker-s per point), "
          f"best {float(dataset['best'].max()):.4f}, load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
