"""The ``thermalink`` command line.

    thermalink twin map     # concurrence map over kappa/gamma x source occupation (PNG + netCDF)
    thermalink twin point --kappa 0.01 --n-source 1000   # one state and its figures of merit
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

DEFAULT_OUTPUT = Path("thermalink_output")


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} is outside the allowed range (0, inf)")
    return value


def _line_stage(text: str):
    from thermalink.simulators.lab_units import LineStage

    try:
        attenuation, temperature = (float(part) for part in text.split(":"))
        return LineStage(attenuation_dB=attenuation, temperature_K=temperature)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"stage {text!r}: expected DB:KELVIN with DB >= 0, KELVIN >= 0 ({error})")


def _parameter_override(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--set {text!r}: expected NAME=NUMBER, e.g. transmission=0.9") from None


def _axis(values: list[float], points: int, name: str) -> np.ndarray:
    low, high = values
    if not 0 < low < high:
        raise ValueError(f"--{name} {low} {high}: need 0 < min < max")
    if points < 1:
        raise ValueError(f"--{name}-points {points}: need at least 1 point")
    return np.logspace(np.log10(low), np.log10(high), points)


def _twin_map(args: argparse.Namespace) -> int:
    from thermalink.analysis.twin_map_plot import entangled_fraction, plot_concurrence_map
    from thermalink.simulators import LinkParameters
    from thermalink.simulators.lab_units import source_occupation
    from thermalink.simulators.twin_map import twin_map

    base = dict(args.set)
    kappas = _axis(args.kappa, args.kappa_points, "kappa")
    if args.temperature is not None:
        temperatures = _axis(args.temperature, args.n_source_points, "temperature")
        occupations = np.array([source_occupation(t, args.frequency, args.stage) for t in temperatures])
    else:
        temperatures = None
        occupations = _axis(args.n_source, args.n_source_points, "n-source")
    LinkParameters(kappa=kappas[0], n_source=occupations[0], **base)  # fail fast on --set values
    workers = args.workers or os.cpu_count() or 1
    executor = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        dataset = twin_map(base, kappa=kappas, n_source=occupations, method=args.method, executor=executor)
    finally:
        if executor is not None:
            executor.shutdown()
    y = "n_source"
    if temperatures is not None:
        dataset = dataset.assign_coords(source_temperature=("n_source", temperatures))
        dataset["source_temperature"].attrs["units"] = "K"
        y = "source_temperature"
    args.out.mkdir(parents=True, exist_ok=True)
    netcdf = args.out / "twin_map.nc"
    dataset.to_netcdf(netcdf, engine="h5netcdf")
    png = plot_concurrence_map(dataset, args.out / "twin_map.png", y=y)
    best = dataset["concurrence"].argmax(...)
    print(f"grid: {len(kappas)} kappa x {len(occupations)} source points, method={args.method}")
    print(f"entangled fraction of the grid: {entangled_fraction(dataset):.3f}")
    print(
        "largest concurrence: {:.4f} at kappa/gamma = {:.4g}, n_source = {:.4g}".format(
            float(dataset["concurrence"].max()),
            float(dataset["kappa"][best["kappa"]]),
            float(dataset["n_source"][best["n_source"]]),
        )
    )
    print(f"wrote {png} and {netcdf}")
    return 0


def _twin_point(args: argparse.Namespace) -> int:
    from thermalink.analysis.figures_of_merit import STATE_FIGURES
    from thermalink.simulators import LinkParameters, relaxation_rate, solve_exact, steady_state

    p = LinkParameters(kappa=args.kappa, n_source=args.n_source, **dict(args.set))
    if args.method == "exact":
        result = solve_exact(p)
        rho = result.rho
        print(f"exact steady state, Fock cutoff {result.cutoff} (thermal tail <= {result.tail_bound:.1e})")
    else:
        rho = steady_state(p, method=args.method)
        print(f"{args.method} limit")
    print(p)
    print("rho (basis gg, ge, eg, ee):")
    with np.printoptions(precision=5, suppress=True, linewidth=120):
        print(rho)
    for name, function in STATE_FIGURES.items():
        print(f"{name:>17s}: {function(rho):.5f}")
    print(f"{'relaxation_rate':>17s}: {relaxation_rate(p):.5g} (twin rate unit, like kappa)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thermalink", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    twin = commands.add_parser("twin", help="the digital twin of the thermal link")
    twin_commands = twin.add_subparsers(dest="twin_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--method", choices=("exact", "adiabatic", "markov"), default="exact")
    common.add_argument(
        "--set", type=_parameter_override, action="append", default=[], metavar="NAME=VALUE",
        help="fix another LinkParameters field, e.g. --set transmission=0.9 (repeatable)",
    )

    map_parser = twin_commands.add_parser("map", parents=[common], help="concurrence map (PNG + netCDF)")
    map_parser.add_argument("--kappa", nargs=2, type=_positive_float, default=[1e-3, 10.0], metavar=("MIN", "MAX"),
                            help="filter linewidth range in units of gamma (log grid)")
    map_parser.add_argument("--kappa-points", type=int, default=25)
    map_parser.add_argument("--n-source", nargs=2, type=_positive_float, default=[1.0, 1000.0], metavar=("MIN", "MAX"),
                            help="source occupation range (log grid)")
    map_parser.add_argument("--temperature", nargs=2, type=_positive_float, metavar=("MIN_K", "MAX_K"),
                            help="source temperature range in K instead of --n-source")
    map_parser.add_argument("--n-source-points", type=int, default=25)
    map_parser.add_argument("--frequency", type=_positive_float, default=6e9, help="filter centre in Hz (6e9)")
    map_parser.add_argument("--stage", type=_line_stage, action="append", default=[], metavar="DB:KELVIN",
                            help="line stage between load and filter, source side first (repeatable)")
    map_parser.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    map_parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT, help="output folder")
    map_parser.set_defaults(handler=_twin_map)

    point = twin_commands.add_parser("point", parents=[common], help="one steady state and its figures of merit")
    point.add_argument("--kappa", type=_positive_float, required=True, help="filter linewidth in units of gamma")
    point.add_argument("--n-source", type=float, required=True, help="source occupation N_h")
    point.set_defaults(handler=_twin_point)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as error:
        print(f"thermalink: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
