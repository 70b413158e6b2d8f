"""The ``thermalink`` command line.

    thermalink run                     # bandwidth sweep on the simulated station, analysed and plotted
    thermalink run --station station_configs/lab.yaml --sweep temperature ...
    thermalink run --resume RUN_ID     # continue an interrupted run
    thermalink analyze RUN_ID          # (re)analyse a stored run
    thermalink report RUN_ID           # PNG/PDF figures + a short text summary
    thermalink twin map                # twin concurrence map over kappa/gamma x source occupation
    thermalink twin point --kappa 0.01 --n-source 1000   # one state and its figures of merit
    thermalink calibrate readout --shots 20000 --apply    # assignment matrices (source output off)
    thermalink calibrate source --bandwidth 1e6 --temperature 20   # fitted noise spectrum vs settings
    thermalink design                  # best operating point, what limits it, what reaches F = 0.70
    thermalink station init lab.yaml   # a station file from the lab template; station check opens it
    thermalink --version               # every COMMAND --help shows each option's default

``run`` is :func:`.experiment_session.start_run` / :func:`.experiment_session.resume_run` (the same
calls a notebook makes); this module parses options and maps thermalink's errors to exit codes
(:data:`EXIT_CODES`); any other exception shows its traceback.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from thermalink.simulators.errors import InputError, ThermalinkError

DEFAULT_OUTPUT = Path("thermalink_output")
DEFAULT_DATABASE = Path("thermalink.db")
DEFAULT_FREQUENCY = 6e9
EXIT_CODES = """exit codes: 0 done; 1 another thermalink error; 2 bad input (the message names the value and
its allowed range, nothing was touched); 3 a sweep stopped (source safe, resumable with --resume);
4 a safety trip (interlock: the source is in its safe state); 130 interrupted before a sweep started.
Any other failure is a bug and shows its traceback."""


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} is outside the allowed range (0, inf)")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is outside the allowed range: integers >= 0")
    return value


def _line_stage(text: str):
    from thermalink.simulators.lab_units import LineStage

    try:
        attenuation, temperature = (float(part) for part in text.split(":"))
        return LineStage(attenuation_dB=attenuation, temperature_K=temperature)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"stage {text!r}: expected DB:KELVIN with DB >= 0, KELVIN >= 0 ({error})")


def _parameter_override(text: str) -> tuple[str, float]:
    from dataclasses import fields

    from thermalink.simulators import LinkParameters

    name, _, value = text.partition("=")
    allowed = [field.name for field in fields(LinkParameters)]
    if name.strip() not in allowed:
        raise argparse.ArgumentTypeError(f"--set {text!r}: {name.strip()!r} is not one of {allowed}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--set {text!r}: expected NAME=NUMBER, e.g. transmission=0.9") from None


def _axis(values: list[float], points: int, name: str) -> np.ndarray:
    low, high = values
    if not 0 < low < high:
        raise InputError(f"--{name} {low} {high}: need 0 < min < max")
    if points < 1:
        raise InputError(f"--{name}-points {points}: need at least 1 point")
    return np.logspace(np.log10(low), np.log10(high), points)


def _twin_map(args: argparse.Namespace) -> int:
    from thermalink.analysis.twin_map_plot import entangled_fraction, plot_concurrence_map
    from thermalink.simulators import LinkParameters
    from thermalink.simulators.lab_units import source_occupation
    from thermalink.simulators.maps import twin_map

    base = dict(args.set)
    kappas = _axis(args.kappa, args.kappa_points, "kappa")
    if args.temperature is None and (args.stage or args.frequency != DEFAULT_FREQUENCY):
        raise InputError("--stage and --frequency describe how a source temperature becomes N_h: give --temperature")
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
        dataset.attrs["filter_center_Hz"] = args.frequency
        dataset.attrs["line_stages_dB_K"] = json.dumps([[s.attenuation_dB, s.temperature_K] for s in args.stage])
        y = "source_temperature"
    args.out.mkdir(parents=True, exist_ok=True)
    netcdf = args.out / "twin_map.nc"
    dataset.to_netcdf(netcdf, engine="h5netcdf")
    png = plot_concurrence_map(dataset, args.out / "twin_map.png", y=y)
    best = dataset["concurrence"].argmax(...)
    print(f"grid: {len(kappas)} kappa x {len(occupations)} source points, method={args.method}")
    print(f"entangled fraction of the grid: {entangled_fraction(dataset):.3f}")
    where = f"n_source = {float(dataset['n_source'][best['n_source']]):.4g}"
    if temperatures is not None:
        where += f" (source at {temperatures[int(best['n_source'])]:.4g} K)"
    print(f"largest concurrence: {float(dataset['concurrence'].max()):.4f} at "
          f"kappa/gamma = {float(dataset['kappa'][best['kappa']]):.4g}, {where}")
    print(f"wrote {png} and {netcdf}")
    return 0


def _twin_point(args: argparse.Namespace) -> int:
    from thermalink.simulators.figures_of_merit import STATE_FIGURES
    from thermalink.simulators import LinkParameters, relaxation_rate, solve_exact, steady_state
    from thermalink.simulators.lab_units import source_occupation

    if args.temperature is None and (args.stage or args.frequency != DEFAULT_FREQUENCY):
        raise InputError("--stage and --frequency describe how a source temperature becomes N_h: give --temperature")
    if args.temperature is not None:
        n_source = source_occupation(args.temperature, args.frequency, args.stage)
        stages = ", ".join(f"{s.attenuation_dB:g} dB at {s.temperature_K:g} K" for s in args.stage) or "no line stages"
        print(f"source at {args.temperature:g} K, filter centre {args.frequency:.4g} Hz, {stages}: "
              f"N_h = {n_source:.6g}")
    else:
        n_source = args.n_source
    p = LinkParameters(kappa=args.kappa, n_source=n_source, **dict(args.set))
    if args.method == "exact" and p.delay == 0.0:
        result = solve_exact(p)
        rho = result.rho
        print(f"exact steady state, Fock cutoff {result.cutoff} (thermal tail <= {result.tail_bound:.1e})")
    else:
        rho = steady_state(p, method=args.method)
        print(f"{args.method} limit" if args.method != "exact" else "exact steady state with the propagation delay")
    print(p)
    print("rho (basis gg, ge, eg, ee):")
    with np.printoptions(precision=5, suppress=True, linewidth=120):
        print(rho)
    for name, function in STATE_FIGURES.items():
        print(f"{name:>17s}: {function(rho):.5f}")
    print(f"{'relaxation_rate':>17s}: {relaxation_rate(p):.5g} (twin rate unit, like kappa)")
    return 0


#: Per sweep kind: (bandwidth values, temperature values) it takes, and their defaults.
_SWEEP_SHAPES = {
    "bandwidth": ((2, [1e3, 1e8]), (1, [40.0])),
    "temperature": ((1, [1e4]), (2, [10.0, 40.0])),
    "map": ((2, [1e3, 1e8]), (2, [10.0, 40.0])),
}


def _values(given: list[float] | None, count: int, default: list[float], option: str, sweep: str) -> list[float]:
    values = default if given is None else given
    if len(values) != count:
        shape = "one value" if count == 1 else "MIN MAX"
        raise InputError(f"--sweep {sweep} takes {shape} for {option}, got {' '.join(map(str, values))}")
    if count == 2 and not values[0] < values[1]:
        raise InputError(f"{option} {values[0]} {values[1]}: need MIN < MAX")
    return values


def _sweep_plan(args: argparse.Namespace):
    from thermalink.experiments.sweep_plan import (
        bandwidth_sweep,
        bandwidth_temperature_map,
        log_range,
        temperature_sweep,
    )

    (n_bandwidth, bandwidth_default), (n_temperature, temperature_default) = _SWEEP_SHAPES[args.sweep]
    bandwidth = _values(args.bandwidth, n_bandwidth, bandwidth_default, "--bandwidth", args.sweep)
    temperature = _values(args.temperature, n_temperature, temperature_default, "--temperature", args.sweep)
    for option, value in (("--points", args.points), ("--temperature-points", args.temperature_points)):
        if value < 1:
            raise InputError(f"{option} {value}: need at least 1 point")
    options = dict(shots=args.shots, settle_s=args.settle, settle_factor=args.settle_factor, seed=args.seed,
                   bootstrap=args.bootstrap, attenuation_dB=args.attenuation)
    if args.sweep == "bandwidth":
        return bandwidth_sweep(log_range(*bandwidth, args.points), temperature[0], **options)
    temperatures = [float(t) for t in np.linspace(*temperature, args.temperature_points)]
    if args.sweep == "temperature":
        return temperature_sweep(temperatures, bandwidth[0], **options)
    return bandwidth_temperature_map(log_range(*bandwidth, args.points), temperatures, **options)


def _polite_kill(request_stop):
    """The handler of SIGTERM and SIGHUP during ``thermalink run``: the sweep stops as after Ctrl-C.

    The stop is requested from the sweep (``request_stop``, checked before every point) and raised
    at once as a KeyboardInterrupt, or handed to QCoDeS' SIGINT handler when one is installed (it
    defers the interrupt to the end of a database write)."""

    def interrupt(signum, frame) -> None:
        reason = f"stopped by signal {signal.Signals(signum).name}"
        request_stop(reason)
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler) and handler is not signal.default_int_handler:
            handler(signal.SIGINT, frame)
            return
        raise KeyboardInterrupt(reason)

    return interrupt


def _writable_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {folder}: cannot create the output folder ({error.strerror})") from None


def _run(args: argparse.Namespace) -> int:
    """Start or resume a sweep (:mod:`.experiment_session`), then print its summary."""
    from thermalink.experiments.experiment_session import resume_run, start_run
    from thermalink.experiments.sweep_runner import clear_stop_requests, request_stop

    if args.allow_station_change and args.resume is None:
        raise InputError("--allow-station-change only applies with --resume RUN_ID")
    if args.at_optimum and args.resume is not None:
        raise InputError("--at-optimum starts a new run; it does not apply with --resume RUN_ID")
    if args.at_optimum:  # measure at `thermalink design`'s optimum, with its shot budget
        from thermalink.experiments.design_command import at_optimum_plan
        plan = at_optimum_plan(args)
    else:
        plan = None if args.resume is not None else _sweep_plan(args)
    # A polite kill (SIGTERM, a closed terminal) stops like Ctrl-C: source safe, run resumable.
    handler = _polite_kill(request_stop)
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if plan is None:
            result = resume_run(args.resume, db=args.db, station=args.station, out=args.out,
                                allow_station_change=args.allow_station_change, retries=args.retries,
                                monitor_port=args.monitor, plottr=args.plottr)
        else:
            result = start_run(plan, db=args.db, station=args.station, out=args.out, calibrate=args.calibrate_readout,
                               calibration_shots=args.calibration_shots, retries=args.retries,
                               monitor_port=args.monitor, plottr=args.plottr)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        clear_stop_requests()
    print(result.summary)
    if result.outcome.points_measured:
        print("time per point (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in result.time_per_point_ms().items()))
    print(f"run {result.run_id} in {args.db}; figures: {', '.join(str(p) for p in result.figures)}")
    if result.plottr is not None:
        print(f"plottr (pid {result.plottr.pid}) keeps showing run {result.run_id} until its window is closed")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from thermalink.experiments.sweep_analysis import analyse_run
    from thermalink.experiments.sweep_report import summary_table
    from thermalink.experiments.sweep_storage import database, load_analysis, load_sweep, open_sweep_run

    conn = database(args.db, create=False)
    run = open_sweep_run(conn, args.run_id)
    analysis_id = analyse_run(conn, run, progress=True, significance=args.significance)
    print(summary_table(load_sweep(run), load_analysis(conn, run), significance=args.significance))
    print(f"analysis of run {run.run_id} saved as run {analysis_id}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from thermalink.experiments.sweep_report import plot_sweep, summary_table
    from thermalink.experiments.sweep_storage import (
        analysis_dataset, database, export_netcdf, export_qcodes, load_analysis, load_sweep, open_sweep_run,
    )

    conn = database(args.db, create=False)
    _writable_folder(args.out)
    run = open_sweep_run(conn, args.run_id)
    raw, analysis = load_sweep(run), load_analysis(conn, run)
    table = summary_table(raw, analysis)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = args.out / f"run{run.run_id}_summary.txt"
    summary.write_text(f"run {run.run_id}, status {raw.attrs['status']}\n{table}\n")
    paths = plot_sweep(raw, analysis, args.out)
    netcdf = export_netcdf(run, args.out / f"run{run.run_id}.nc", conn)
    # QCoDeS' own exports of both runs (file names from the user's QCoDeS export config)
    exports = [export_qcodes(dataset, args.out) for dataset in (run.dataset, analysis_dataset(conn, run))]
    print(table)
    print(f"wrote {summary}, {netcdf}, " + ", ".join(str(p) for p in [*exports, *paths]))
    return 0


def _calibrate_readout(args: argparse.Namespace) -> int:
    from thermalink.experiments.lab_station import LabStation
    from thermalink.experiments.readout_calibration import calibrate_readout

    lab = LabStation.from_config(args.station)
    before = lab.assignment()
    calibration = calibrate_readout(lab, args.shots, apply=args.apply, seed=args.seed)
    print(calibration.summary())
    for qubit in (1, 2):
        print(f"qubit {qubit} A[i, j] = P(read i | state j): "
              f"{np.array2string(calibration.assignment[qubit - 1], precision=5, separator=', ')}"
              f"  (readout had {np.array2string(before[qubit - 1], precision=5, separator=', ')})")
    errors = ", ".join(f"{value:.5f}" for value in calibration.errors.values())
    if args.apply:
        from thermalink.experiments.calibration_store import persist_readout_calibration
        print(f"applied to {lab.readout.name}; " + persist_readout_calibration(args.station, calibration))
    else:
        print("not applied (--apply writes it to the readout); station file line:")
    print(f"      assignment_errors: [{errors}]   # q1 P(1|0), q1 P(0|1), q2 P(1|0), q2 P(0|1)")
    return 0


def _calibrate_source(args: argparse.Namespace) -> int:
    from thermalink.experiments.lab_station import LabStation
    from thermalink.experiments.source_characterisation import MAX_GAIN_DB, MIN_GAIN_DB, characterise_source

    if args.gain is not None and not (np.isfinite(args.gain) and MIN_GAIN_DB <= args.gain <= MAX_GAIN_DB):
        raise InputError(f"--gain {args.gain} is outside the allowed range [{MIN_GAIN_DB}, {MAX_GAIN_DB}] dB")
    _writable_folder(args.out)
    lab = LabStation.from_config(args.station)
    flags = {"temperature": "--temperature", "attenuation": "--attenuation", "center_frequency": "--center",
             "bandwidth": "--bandwidth"}
    settings = {name: value for name, value in (("temperature", args.temperature), ("attenuation", args.attenuation),
                ("center_frequency", args.center), ("bandwidth", args.bandwidth)) if value is not None}
    for name, value in settings.items():
        parameter = lab.source.parameters[name]
        try:
            parameter.validate(value)
        except (ValueError, TypeError) as error:
            raise InputError(f"{flags[name]} {value} is rejected by {parameter.full_name}: {error}") from None
    if settings:
        lab.apply(settings)
    result = characterise_source(lab, npts=args.points, chain_gain_dB=args.gain,
                                 plot_path=args.out / "source_characterisation.png")
    print(result.summary())
    print(f"wrote {result.plot}")
    return 0


def _common_options() -> dict[str, argparse.ArgumentParser]:
    """Options several commands share, each declared once (argparse parent parsers)."""
    def parent(*flags: str, **options) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(add_help=False)
        parser.add_argument(*flags, **options)
        return parser

    return {
        "db": parent("--db", type=Path, default=DEFAULT_DATABASE, help="QCoDeS database"),
        "out": parent("--out", type=Path, default=DEFAULT_OUTPUT,
                      help="folder for figures and files"),
        "station": parent("--station", type=Path, default=None,
                          help="station YAML (default: the simulated station; with run --resume, the run's own "
                               "station file)"),
    }


def _add_calibrate_parser(commands, common: dict[str, argparse.ArgumentParser]) -> None:
    calibrate = commands.add_parser("calibrate", help="calibrations the sweeps use (readout, source)")
    which = calibrate.add_subparsers(dest="calibration", required=True)
    readout = which.add_parser("readout", parents=[common["station"]],
                               help="assignment matrices from prepared basis states (source output off)")
    readout.add_argument("--shots", type=int, default=20_000, help="shots per prepared state")
    readout.add_argument("--apply", action="store_true", help="write the error probabilities into the readout")
    readout.add_argument("--seed", type=int, default=None, help="shot-noise seed of a virtual readout")
    readout.set_defaults(handler=_calibrate_readout)

    source = which.add_parser("source", parents=[common["station"], common["out"]],
                              help="noise spectrum -> fitted centre, bandwidth and occupation")
    source.add_argument("--temperature", type=_positive_float, default=None, help="set the hot load first, K")
    source.add_argument("--attenuation", type=float, default=None, help="set the step attenuator first, dB")
    source.add_argument("--center", type=_positive_float, default=None, help="set the filter centre first, Hz")
    source.add_argument("--bandwidth", type=_positive_float, default=None, help="set the filter bandwidth first, Hz")
    source.add_argument("--gain", type=float, default=None,
                        help="chain gain from the filter output to the analyzer, dB (default: the analyzer's 'gain')")
    source.add_argument("--points", type=int, default=401, help="trace points")
    source.set_defaults(handler=_calibrate_source)


def _add_run_parser(commands, common: dict[str, argparse.ArgumentParser]) -> None:
    run = commands.add_parser("run", parents=[common["station"], common["db"], common["out"]],
                              help="measure a sweep (default: bandwidth sweep on the simulated station)")
    run.add_argument("--sweep", choices=("bandwidth", "temperature", "map"), default="bandwidth",
                     help="what is swept: filter bandwidth, hot-load temperature, or a bandwidth x temperature map")
    run.add_argument("--bandwidth", nargs="+", type=_positive_float, default=None, metavar="HZ",
                     help="filter bandwidth in Hz: MIN MAX (log grid) for bandwidth sweeps and maps "
                          "(default 1e3 1e8), one value for a temperature sweep (default 1e4)")
    run.add_argument("--points", type=int, default=21, help="bandwidth points (log grid)")
    run.add_argument("--temperature", nargs="+", type=_positive_float, default=None, metavar="K",
                     help="hot-load temperature in K: one value for a bandwidth sweep (default 40), "
                          "MIN MAX for temperature sweeps and maps (default 10 40)")
    run.add_argument("--temperature-points", type=int, default=8,
                     help="temperature points (linear grid) of temperature sweeps and maps")
    run.add_argument("--attenuation", type=float, default=0.0, help="step attenuator setting in dB")
    run.add_argument("--shots", type=int, default=2000, help="shots per tomography setting")
    run.add_argument("--settle", type=float, default=None, help="fixed settle time in s (default: from the twin)")
    run.add_argument("--settle-factor", type=float, default=5.0, help="settle time in twin relaxation times")
    run.add_argument("--seed", type=int, default=1234, help="seed of the shot noise (virtual readout) and the bootstrap")
    run.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples per point")
    run.add_argument("--retries", type=_non_negative_int, default=2, help="retries of a failing instrument call")
    run.add_argument("--no-calibrate-readout", dest="calibrate_readout", action="store_false",
                     help="skip the readout calibration before a new sweep (its matrices go with the run)")
    run.add_argument("--calibration-shots", type=int, default=20000, help="shots per prepared basis state")
    run.add_argument("--resume", type=int, default=None, metavar="RUN_ID",
                     help="continue an interrupted run (it follows its stored plan; sweep options are ignored; "
                          "it must be on the station it was measured on, by default the station file it used)")
    run.add_argument("--allow-station-change", action="store_true",
                     help="with --resume: continue even if the station file defines a different setup than the "
                          "one the run was measured on (recorded in the run, with the first point measured after)")
    run.add_argument("--monitor", type=int, default=None, metavar="PORT", help="serve QCoDeS' Monitor of the source "
                     "during the run on PORT (5678 for QCoDeS' web page; 0: a free port)")
    run.add_argument("--plottr", action="store_true", help="open plottr's live plot of the run in its own process "
                     "(needs a display and plottr + PyQt5; closing it never stops the run; default: off)")
    run.add_argument("--at-optimum", action="store_true", help="one point at the design optimum (thermalink design), "
                     "with the shots per setting that certify Bell fidelity > 0.70 (or C > 0) at 95 %%")
    run.set_defaults(handler=_run)

    analyze = commands.add_parser("analyze", parents=[common["db"]], help="(re)analyse a stored run")
    analyze.add_argument("run_id", type=int, help="id of the measured run (thermalink runs)")
    analyze.add_argument("--significance", type=float, default=0.05, help="goodness-of-fit level for 'consistent'")
    analyze.set_defaults(handler=_analyze)

    report = commands.add_parser("report", parents=[common["db"], common["out"]],
                                 help="figures (PNG/PDF), netCDF and a text summary of a run")
    report.add_argument("run_id", type=int, help="id of the measured run (thermalink runs)")
    report.set_defaults(handler=_report)


def _add_twin_parser(commands, common: dict[str, argparse.ArgumentParser]) -> None:
    twin = commands.add_parser("twin", help="the digital twin of the thermal link")
    twin_commands = twin.add_subparsers(dest="twin_command", required=True)
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--method", choices=("exact", "adiabatic", "markov"), default="exact",
                       help="twin solver: exact steady state, adiabatic (kappa -> 0) or markov (broadband) limit")
    model.add_argument(
        "--set", type=_parameter_override, action="append", default=[], metavar="NAME=VALUE",
        help="fix another LinkParameters field, e.g. --set transmission=0.9 (repeatable)",
    )
    source_model = argparse.ArgumentParser(add_help=False)
    source_model.add_argument("--frequency", type=_positive_float, default=DEFAULT_FREQUENCY,
                              help="filter centre in Hz, for --temperature")
    source_model.add_argument("--stage", type=_line_stage, action="append", default=[], metavar="DB:KELVIN",
                              help="line stage between load and filter, source side first (repeatable)")

    map_parser = twin_commands.add_parser("map", parents=[model, source_model, common["out"]],
                                          help="concurrence map (PNG + netCDF)")
    map_parser.add_argument("--kappa", nargs=2, type=_positive_float, default=[1e-3, 10.0], metavar=("MIN", "MAX"),
                            help="filter linewidth range in units of gamma (log grid)")
    map_parser.add_argument("--kappa-points", type=int, default=25, help="kappa grid points")
    source_axis = map_parser.add_mutually_exclusive_group()
    source_axis.add_argument("--n-source", nargs=2, type=_positive_float, default=[1.0, 1000.0],
                             metavar=("MIN", "MAX"), help="source occupation range (log grid)")
    source_axis.add_argument("--temperature", nargs=2, type=_positive_float, metavar=("MIN_K", "MAX_K"),
                             help="source temperature range in K instead of --n-source")
    map_parser.add_argument("--n-source-points", type=int, default=25, help="source grid points (--n-source or --temperature)")
    map_parser.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    map_parser.set_defaults(handler=_twin_map)

    point = twin_commands.add_parser("point", parents=[model, source_model],
                                     help="one steady state and its figures of merit")
    point.add_argument("--kappa", type=_positive_float, required=True, help="filter linewidth in units of gamma")
    point_source = point.add_mutually_exclusive_group(required=True)
    point_source.add_argument("--n-source", type=float, help="source occupation N_h")
    point_source.add_argument("--temperature", type=_positive_float, metavar="K",
                              help="source temperature in K instead of --n-source")
    point.set_defaults(handler=_twin_point)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that ends every option with its default, ``(default: X)``, unless the text already says it.

    Nothing is added for switches (``store_true``), empty repeatable options and ``None`` defaults
    (their help says what happens without them).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default in (None, argparse.SUPPRESS, [])
                or isinstance(default, bool) or not (action.option_strings or action.nargs == "?")):
            return text
        values = default if isinstance(default, (list, tuple)) else [default]
        shown = " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values).replace("%", "%%")
        return f"{text} (default: {shown})"


def _all_parsers(parser: argparse.ArgumentParser):
    """``parser`` and every subcommand parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _all_parsers(sub)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("thermalink")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thermalink", description=__doc__.splitlines()[0],
                                     epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help="show the installed thermalink version and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    common = _common_options()
    _add_run_parser(commands, common)
    _add_calibrate_parser(commands, common)
    _add_twin_parser(commands, common)
    from thermalink.experiments.run_history import add_history_parsers
    add_history_parsers(commands, common)
    from thermalink.experiments.lab_monitor import add_monitor_parser
    add_monitor_parser(commands, common)
    from thermalink.experiments.design_command import add_design_parser  # thermalink design
    add_design_parser(commands, common)
    from thermalink.experiments.station_command import add_station_parser  # thermalink station init|check
    add_station_parser(commands)
    for each in _all_parsers(parser):  # every option's help ends with its default
        each.formatter_class = DefaultsHelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; thermalink's own errors end it with a one-line message and their exit code
    (:data:`EXIT_CODES`), anything else with its traceback (a bug is never shown as a user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ThermalinkError as error:
        print(f"thermalink: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt as interrupt:
        print(f"thermalink: {interrupt or 'interrupted'}", file=sys.stderr)
        return 130


def console_main() -> int:
    """The ``thermalink`` program: :func:`main`, then the heap frozen for a quick exit.

    **Decision:** a run leaves ~330 000 objects (QCoDeS, xarray, matplotlib, the twin caches);
    the interpreter's garbage collections at exit traversed them for ~0.85 s of every command.
    Freezing them (:func:`gc.freeze`) after the command has finished skips those traversals: files
    and databases are closed by then (the run closes its connection, :func:`logging.shutdown`
    the run log), and the memory goes back to the system with the process. In-process callers
    (tests, notebooks) use :func:`main`, which leaves the collector alone.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(console_main())
