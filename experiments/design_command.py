"""``thermalink design``: the best operating point of a station, what limits it, what would reach
the target, and requirement maps.

    thermalink design                                  # simulated station, Bell fidelity, target 0.70
    thermalink design --station station_configs/room_temperature.yaml --target-fidelity 0.7
    thermalink design --figure concurrence --bandwidth 1e3 1e5
    thermalink design --requirements t1 t2 --points 12 # requirement map: PNG + netCDF into --out

:func:`add_design_parser` adds the subcommand to the CLI's subparsers; :func:`run_design` is its
handler. Every input is checked before the station is loaded or the twin runs.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from thermalink.simulators.errors import InputError
from .operating_point import FIGURE_LABELS, FIGURES
from .requirement_map import DEFAULT_TARGET, REQUIREMENTS

#: Settle time as a multiple of the relaxation time (the sweep plans' default settle_factor).
SETTLE_FACTOR = 5.0


def add_design_parser(commands, common: dict) -> None:
    """Add ``design`` to the CLI's subparsers (``common``: the CLI's shared options)."""
    design = commands.add_parser("design", parents=[common["station"], common["out"]],
                                 help="best operating point of a station on the twin, what limits it, "
                                      "what reaches the target; requirement maps")
    design.add_argument("--figure", choices=sorted(FIGURES), default="bell",
                        help="figure of merit to maximise (bell: singlet fidelity maximised over the phase)")
    design.add_argument("--target-fidelity", type=float, default=None, metavar="F",
                        help="target of the chosen figure, in (0, 1] ((0, 0.5] for the negativity); default 0.70 "
                             "(0.35 for the negativity, whose maximum is 0.5)")
    design.add_argument("--confidence", type=float, default=0.95,
                        help="confidence of the certification, in (0, 1)")
    for knob, unit in (("bandwidth", "Hz"), ("temperature", "K"), ("attenuation", "dB"), ("center", "Hz")):
        design.add_argument(f"--{knob}", nargs=2, type=float, default=None, metavar=("MIN", "MAX"),
                            help=f"search only this {knob} range, {unit} (inside the station's limits)")
    design.add_argument("--requirements", nargs="+", choices=sorted(REQUIREMENTS), default=None, metavar="NAME",
                        help=f"requirement map over one or two of {', '.join(sorted(REQUIREMENTS))} (PNG + netCDF)")
    design.add_argument("--range", nargs=3, action="append", default=[], metavar=("NAME", "MIN", "MAX"),
                        help="axis range of a requirement (default: from the station's value to the ideal one)")
    design.add_argument("--points", type=int, default=8, help="points per requirement axis")
    design.add_argument("--no-advice", dest="advice", action="store_false",
                        help="only the optimum (skip what limits it and what reaches the target)")
    design.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    design.set_defaults(handler=run_design)


def _check(args: argparse.Namespace) -> None:
    """Refuse bad input before anything is loaded (ValueError naming the value and the range)."""
    highest = 0.5 if args.figure == "negativity" else 1.0
    if args.target_fidelity is None:
        args.target_fidelity = DEFAULT_TARGET * highest
    if not (math.isfinite(args.target_fidelity) and 0 < args.target_fidelity <= highest):
        raise InputError(f"--target-fidelity {args.target_fidelity} is outside the allowed range (0, {highest:g}] "
                         f"for the {args.figure}")
    if not (math.isfinite(args.confidence) and 0 < args.confidence < 1):
        raise InputError(f"--confidence {args.confidence} is outside the allowed range (0, 1)")
    if args.points < 2 and args.requirements:
        raise InputError(f"--points {args.points} is outside the allowed range: integers >= 2")
    if args.requirements and len(args.requirements) > 2:
        raise InputError(f"--requirements {' '.join(args.requirements)}: give one or two names")
    if args.requirements and len(set(args.requirements)) != len(args.requirements):
        raise InputError(f"--requirements {' '.join(args.requirements)}: the names must differ")
    for name, low, high in args.range:
        if name not in REQUIREMENTS:
            raise InputError(f"--range {name}: {name!r} is not one of {sorted(REQUIREMENTS)}")
        if not (args.requirements and name in args.requirements):
            raise InputError(f"--range {name} needs --requirements ... {name}")
        try:
            if not float(low) < float(high):
                raise ValueError
        except ValueError:
            raise InputError(f"--range {name} {low} {high}: need numbers MIN < MAX") from None
    if args.workers < 0:
        raise InputError(f"--workers {args.workers} is outside the allowed range: integers >= 0")


def _limits(args: argparse.Namespace):
    from .station_limits import StationLimits

    limits = StationLimits.from_config(args.station)
    return limits.restricted(bandwidth_Hz=args.bandwidth, temperature_K=args.temperature,
                             attenuation_dB=args.attenuation, center_Hz=args.center)


def default_axis(limits, name: str, points: int) -> np.ndarray:
    """A requirement axis from somewhat worse than the station's value to the ideal one."""
    from .requirement_map import current_value, ideal_value

    now = current_value(limits, name)
    if name == "t1":
        return np.linspace(0.5 * now, limits.waveguide_t1_s, points)
    if name == "t2":
        return np.linspace(0.5 * now, 2 * limits.waveguide_t1_s, points)
    if name == "source_temperature":
        return np.geomspace(max(now / 2, limits.temperature_range_K[0] * 1.01), 4 * now, points)
    if name == "transmission":
        return np.linspace(min(0.8, now), ideal_value(limits, name), points)
    return np.linspace(0.0, max(0.05, 2 * now), points)


def _hz(value: float) -> str:
    for unit, scale in (("GHz", 1e9), ("MHz", 1e6), ("kHz", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value:.4g} Hz"


def _seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def describe_point(point, limits) -> list[str]:
    s = point.settings
    tol = point.tolerances
    lines = [
        f"settings: filter bandwidth {_hz(s.bandwidth_Hz)}, attenuation {s.attenuation_dB:g} dB, hot load "
        f"{s.temperature_K:.4g} K (N_h = {point.source_occupation:.4g}), filter centre {s.center_Hz / 1e9:.7f} GHz "
        f"(qubit detunings {point.detunings_Hz[0] / 1e3:+.4g} kHz, {point.detunings_Hz[1] / 1e3:+.4g} kHz)",
        "figures: " + ", ".join(f"{name} {value:.4f}" for name, value in point.figures.items()),
    ]
    if point.relaxation_time_s is not None:
        lines.append(f"settle: relaxation time {_seconds(point.relaxation_time_s)}; wait {SETTLE_FACTOR:g} x = "
                     f"{_seconds(SETTLE_FACTOR * point.relaxation_time_s)} after each change of the source")
    if tol:
        b, t, c, a = tol["bandwidth_Hz"], tol["temperature_K"], tol["center_Hz"], tol["attenuation_dB"]

        def limit(flag):
            return " (station limit)" if flag else ""

        lines.append(
            f"tolerance for a {point.loss:g} loss: bandwidth {_hz(b.low)}{limit(b.low_at_limit)} to "
            f"{_hz(b.high)}{limit(b.high_at_limit)}; hot load {t.low:.4g}{limit(t.low_at_limit)} to "
            f"{t.high:.4g} K{limit(t.high_at_limit)}; centre {(c.low - s.center_Hz) / 1e3:+.4g} to "
            f"{(c.high - s.center_Hz) / 1e3:+.4g} kHz; attenuation {a.low:g} to {a.high:g} dB")
    return lines


#: Figure certified for each design figure (the negativity is certified through C > 0).
CERTIFIED = {"bell": "bell_fidelity", "singlet": "singlet_fidelity", "concurrence": "concurrence",
             "negativity": "concurrence"}
#: Readout-calibration shots per prepared state assumed for the budget (``thermalink run``'s default).
CALIBRATION_SHOTS = 20_000


def readout_line(point, limits) -> str:
    """What the figures and the budget assume of the (frozen) readout protocol."""
    before, after = limits.readout_protocol.times_s()
    _, a = limits.measured_state(point.settings)
    source = ("as measured through the protocol" if limits.assignment_errors_include_readout_decay
              else "discriminator errors with the decay after the pulse folded in")
    return (f"readout: frozen, figures of the state at the pulse ({_seconds(before)} of local decay), read in "
            f"{_seconds(after)} more; errors q1 P(1|0) {a[0][1, 0]:.3f} P(0|1) {a[0][0, 1]:.3f}, q2 P(1|0) "
            f"{a[1][1, 0]:.3f} P(0|1) {a[1][0, 1]:.3f} ({source})")


def certification_lines(point, limits, target: float, confidence: float) -> list[str]:
    """Shots per setting to certify the target (and C > 0) at the optimum, with the readout the
    tomography sees (:meth:`StationLimits.measured_state`: the state at the pulse, the station's
    errors with the frozen readout decay folded in) and a 20000-shot readout calibration
    (:func:`thermalink.analysis.shot_budget`)."""
    from thermalink.analysis import shot_budget

    rho, assignment = limits.measured_state(point.settings)
    settle = SETTLE_FACTOR * point.relaxation_time_s if point.relaxation_time_s is not None else 0.0
    figure = CERTIFIED[point.figure]
    goals = [(figure, 0.0 if point.figure == "negativity" else target)]
    if figure != "concurrence":
        goals.append(("concurrence", 0.0))
    lines = []
    for name, goal in goals:
        predicted = point.figures["concurrence"] if name == "concurrence" else point.value
        if not predicted > goal:
            lines.append(f"certify {name} > {goal:g}: not possible (predicted {predicted:.4f})")
            continue
        try:
            budget = shot_budget(rho, assignment, target=goal, figure=name, confidence=confidence,
                                 settle_time_s=settle, calibration_shots=CALIBRATION_SHOTS)
        except ValueError as error:
            lines.append(f"certify {name} > {goal:g} at {100 * confidence:g} %: not possible here ({error})")
            continue
        lines.append(f"certify {name} > {goal:g} at {100 * confidence:g} % (90 % success): "
                     f"{budget.shots_per_setting} shots per setting x {budget.n_settings} settings")
    return lines


def optimum_plan(limits, figure: str = "bell", target: float = DEFAULT_TARGET, confidence: float = 0.95,
                 *, calibration_shots: int = CALIBRATION_SHOTS, **plan_options):
    """A one-point :class:`SweepPlan` at the design's optimum of ``limits``, with the shot budget
    that certifies ``figure > target`` (or, if the optimum cannot reach the target, ``C > 0``),
    given a readout calibration of ``calibration_shots`` per prepared state, for the state at the
    pulse read with the effective assignment matrices (:meth:`StationLimits.measured_state`).

    Returns ``(plan, point, budget)``; ``plan_options`` go to the plan (seed, bootstrap, ...).
    """
    from thermalink.analysis import shot_budget

    from .operating_point import optimise_operating_point
    from .sweep_plan import SweepPlan

    point = optimise_operating_point(limits, figure, tolerances=False)
    rho, assignment = limits.measured_state(point.settings)
    certified, goal = CERTIFIED[figure], (0.0 if figure == "negativity" else target)
    predicted = point.figures["concurrence"] if certified == "concurrence" else point.value
    if not predicted > goal:
        certified, goal = "concurrence", 0.0
    settle_factor = plan_options.get("settle_factor", SETTLE_FACTOR)
    settle = settle_factor * point.relaxation_time_s if point.relaxation_time_s else 0.0
    budget = shot_budget(rho, assignment, target=goal, figure=certified, confidence=confidence,
                         settle_time_s=settle, calibration_shots=calibration_shots)
    s = point.settings
    plan = SweepPlan(kind="temperature", points=({"temperature": s.temperature_K, "attenuation": s.attenuation_dB,
                                                  "center_frequency": s.center_Hz, "bandwidth": s.bandwidth_Hz},),
                     shots=budget.shots_per_setting, **plan_options)
    return plan, point, budget


def at_optimum_plan(args: argparse.Namespace):
    """``thermalink run --at-optimum``: the plan of :func:`optimum_plan` on ``--station``, printed."""
    from .station_limits import StationLimits

    limits = StationLimits.from_config(args.station)
    plan, point, budget = optimum_plan(limits, "bell", DEFAULT_TARGET, 0.95,
                                       calibration_shots=args.calibration_shots, seed=args.seed,
                                       bootstrap=args.bootstrap, settle_s=args.settle,
                                       settle_factor=args.settle_factor)
    print(f"design optimum: Bell fidelity {point.value:.4f} predicted; {budget.summary()}")
    return plan


def _executor(workers: int):
    workers = workers or os.cpu_count() or 1
    return ProcessPoolExecutor(max_workers=workers) if workers > 1 else None


def run_design(args: argparse.Namespace) -> int:
    """Handler of ``thermalink design``."""
    from .design_advice import advise
    from .operating_point import optimise_operating_point

    _check(args)
    started = time.perf_counter()
    limits = _limits(args)
    label = FIGURE_LABELS[args.figure]
    if args.requirements:
        return _requirements(args, limits, started)
    point = optimise_operating_point(limits, args.figure)
    print(f"station {limits.name}: best {label} {point.value:.4f} "
          f"(target {args.target_fidelity:g}: {'reached' if point.value >= args.target_fidelity else 'NOT reached'})")
    for line in describe_point(point, limits):
        print("  " + line)
    if not limits.readout_protocol.is_instantaneous:
        print("  " + readout_line(point, limits))
    for line in certification_lines(point, limits, args.target_fidelity, args.confidence):
        print("  " + line)
    solves = point.twin_solves
    if args.advice:
        executor = _executor(args.workers)
        try:
            advice = advise(point, limits, args.target_fidelity, executor=executor)
        finally:
            if executor is not None:
                executor.shutdown()
        solves = advice.twin_solves
        for line in advice.summary().splitlines()[1:]:
            print(line)
    print(f"twin solves: {solves} (optimum {point.twin_solves}); wall time {time.perf_counter() - started:.1f} s")
    return 0


def _requirements(args: argparse.Namespace, limits, started: float) -> int:
    from .requirement_map import plot_requirement_map, requirement_map

    ranges = {name: (float(low), float(high)) for name, low, high in args.range}
    axes = {}
    for name in args.requirements:
        if name in ranges:
            low, high = ranges[name]
            axes[name] = (np.geomspace(low, high, args.points) if name == "source_temperature" and low > 0
                          else np.linspace(low, high, args.points))
        else:
            axes[name] = default_axis(limits, name, args.points)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {args.out}: cannot create the output folder ({error.strerror})") from None
    executor = _executor(args.workers)
    try:
        dataset = requirement_map(limits, args.figure, executor=executor, target=args.target_fidelity, **axes)
    finally:
        if executor is not None:
            executor.shutdown()
    stem = "requirements_" + "_".join(args.requirements)
    netcdf = args.out / f"{stem}.nc"
    dataset.to_netcdf(netcdf, engine="h5netcdf")
    png = plot_requirement_map(dataset, args.out / f"{stem}.png", target=args.target_fidelity)
    best = dataset["best"]
    reached = int((best >= args.target_fidelity).sum())
    print(f"station {limits.name}: best {FIGURE_LABELS[args.figure]} over {' x '.join(args.requirements)} "
          f"({best.size} points): {float(best.min()):.4f} to {float(best.max()):.4f}; target "
          f"{args.target_fidelity:g} reached at {reached} of {best.size} points")
    print(f"twin solves: {dataset.attrs['total_twin_solves']}; wall time {time.perf_counter() - started:.1f} s")
    print(f"wrote {png} and {netcdf}")
    return 0
