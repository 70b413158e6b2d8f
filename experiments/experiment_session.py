"""Starting and resuming a sweep, each one call: what ``thermalink run`` does, for a notebook too.

:func:`start_run` and :func:`resume_run` hold the whole policy of a run:

* station: a new run is measured on ``station`` (a station YAML; default: the simulated station).
  A resumed run, without ``station``, continues on the station file it last used (stored in the
  run); either way the file's fingerprint is checked against the run before any instrument opens
  (:mod:`.station_fingerprint`; ``allow_station_change`` continues and records the change);
* readout calibration: a new run checks its plan, then calibrates the readout (source output off,
  :func:`.readout_calibration.calibrate_readout`) and stores the matrices with the run; a resumed
  run writes the calibration it was started with back into the readout, so it continues as it began;
* live analysis: every point is analysed as it is stored (one line per point through ``echo``;
  with ``out``, the live figure ``run<ID>_live.png`` is rewritten within :data:`LIVE_FIGURE_SHARE` of the
  wall time, :func:`.sweep_report.plot_live`),
  the run's analysis is saved beside it at the end, and, with ``out``, its figures are written;
* plottr: with ``plottr=True``, plottr's live autoplot of the run opens in a process of its own at
  the first stored point (:mod:`.plottr_live`: checked before any instrument opens; its death is
  logged, never stops the run; it stays open after the run, :attr:`RunResult.plottr` is its process).

Each opens the station's instruments and closes them when it returns or fails, so calls can follow
one another in one Python session. Both return a :class:`RunResult`. They raise :class:`.sweep_runner.SweepStopped` when the sweep
stops early (source safe, run resumable) and :class:`~thermalink.simulators.errors.InputError` for
bad input, before any instrument is touched. Signals are the caller's business (the command line
turns SIGTERM into a clean stop).

    from thermalink.experiments.experiment_session import resume_run, start_run
    from thermalink.experiments.sweep_plan import bandwidth_sweep, log_range

    result = start_run(bandwidth_sweep(log_range(1e3, 1e8, 11), 40.0), db="thermalink.db", out="figures")
    print(result.summary)
    result = resume_run(3, db="thermalink.db")  # after an interruption: its station, its calibration
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from thermalink.simulators.errors import InputError
from thermalink.station_configs import station_config_path

from .calibration_store import CALIBRATION_ORIGIN_KEY, calibration_origin
from .lab_monitor import monitor_run
from .lab_station import LabStation
from .plottr_live import PlottrLive, check_plottr_live
from .readout_calibration import calibrate_readout, restore_calibration
from .run_log import run_log_metadata, start_run_log
from .station_fingerprint import expected_station, refuse_station_change, station_fingerprint
from .sweep_analysis import SweepAnalysis
from .sweep_plan import SweepPlan
from .sweep_report import plot_live, plot_sweep, summary_table
from .sweep_runner import SweepOutcome, run_sweep
from .sweep_storage import (
    CALIBRATION_KEY,
    SweepRun,
    database,
    is_analysed,
    load_analysis,
    load_sweep,
    open_sweep_run,
)

#: Largest share of a run's wall time the live figure may take: after a point it is redrawn unless
#: the last drawing was so recent that drawing again would exceed this share (on a real station,
#: where a point takes seconds, that is every point; the virtual lab measures faster than matplotlib
#: draws). The state after the last point is always drawn.
LIVE_FIGURE_SHARE = 0.05

#: Where a session's messages go (the live table, the calibration summary, which station a resume uses).
Echo = Callable[[str], None]


@dataclass
class RunResult:
    """A measured (or already complete) run: its data, analysis, summary table and figures."""

    run_id: int
    outcome: SweepOutcome
    raw: xr.Dataset
    analysis: xr.Dataset
    summary: str
    figures: list[Path] = field(default_factory=list)
    #: False if the run was already complete and analysed: its stored analysis is reported.
    analysed_now: bool = True
    #: The plottr process showing the run (``plottr=True``), left running; ``None`` otherwise.
    plottr: subprocess.Popen | None = None

    def time_per_point_ms(self) -> dict[str, float]:
        """Mean time per measured point of each phase (set, wait, measure, save, analyse), ms."""
        return {phase: 1e3 * float(np.mean(times)) for phase, times in self.outcome.timings.items() if times}


def start_run(plan: SweepPlan, *, db, station: str | Path | None = None, out: str | Path | None = None,
              calibrate: bool = True, calibration_shots: int = 20_000, retries: int = 2, progress: bool = True,
              echo: Echo | None = tqdm.write, monitor_port: int | None = None, plottr: bool = False) -> RunResult:
    """Measure ``plan`` into a new run of database ``db`` (a path, created if needed, or a QCoDeS
    connection) on ``station``, analysed live; with ``out``, figures go there.

    ``calibrate``: calibrate the readout first (``calibration_shots`` per prepared basis state,
    seeded by the plan's seed) and store the matrices with the run. ``retries``: retries of a failing
    instrument call. ``echo``: where messages go (``None``: nowhere). ``monitor_port``: serve QCoDeS'
    Monitor of the source during the run (0: a free port). With ``out``, the run's log is written
    there too (:mod:`.run_log`) and named in its metadata. ``plottr``: open plottr's live plot of the run.
    """
    conn = _connection(db, create=True)
    _check_folder(out)
    live_plot = _plottr_live(conn, out, plottr)
    lab = LabStation.from_config(station)
    run_log, stop_monitor = None, None
    try:
        run_log = start_run_log(out) if out is not None else None
        stop_monitor = monitor_run(lab, monitor_port)
        lab.validate_plan(plan)  # before the calibration touches the source
        metadata = run_log_metadata(run_log) if run_log is not None else {}
        calibration = None
        if calibrate:
            calibration = calibrate_readout(lab, shots=calibration_shots, apply=True, seed=plan.seed)
            _say(echo, calibration.summary())
            metadata[CALIBRATION_KEY] = calibration.to_json()
        metadata[CALIBRATION_ORIGIN_KEY] = calibration_origin(station, lab, calibration)
        return _measure(lab, conn, plan, None, metadata=metadata, retries=retries, progress=progress, echo=echo,
                        out=out, live_plot=live_plot)
    finally:
        _close(lab, run_log, stop_monitor)


def resume_run(run_id: int, *, db, station: str | Path | None = None, out: str | Path | None = None,
               allow_station_change: bool = False, retries: int = 2, progress: bool = True,
               echo: Echo | None = tqdm.write, monitor_port: int | None = None, plottr: bool = False) -> RunResult:
    """Continue run ``run_id`` of database ``db`` (an existing file, or a QCoDeS connection) with
    its first missing point, on its own plan, station and readout calibration; then analyse it.

    ``station``: default, the station file the run last used. A run that was not created
    completely, a station file that is gone, or one that defines another setup than the run's
    (unless ``allow_station_change``) is refused (:class:`~thermalink.simulators.errors.InputError`)
    before any instrument opens. A complete run is only reported (analysed first if it is not).
    ``plottr``: open plottr's live plot of the run at its first newly measured point.
    """
    conn = _connection(db, create=False)
    _check_folder(out)
    live_plot = _plottr_live(conn, out, plottr)
    run = open_sweep_run(conn, run_id, resume=True)
    if run.dataset.completed:
        return _report(conn, run, SweepOutcome(run_id=run.run_id, already_complete=True), None, out, progress, echo)
    if station is None:
        station = stored_station_file(run, allow_station_change, echo)
    if not allow_station_change:  # checked by content, before any instrument opens
        refuse_station_change(run.run_id, run.metadata, station_fingerprint(station or station_config_path("simulated")))
    lab = LabStation.from_config(station)
    run_log, stop_monitor = None, None
    try:
        run_log = start_run_log(out, run.dataset) if out is not None else None  # continues the run's log
        stop_monitor = monitor_run(lab, monitor_port)
        stored = run.metadata.get(CALIBRATION_KEY)
        if stored is not None:  # the readout assumes the calibration the run started with
            restore_calibration(lab.readout, stored)
        return _measure(lab, conn, None, run.run_id, allow_station_change=allow_station_change, retries=retries,
                        progress=progress, echo=echo, out=out, live_plot=live_plot)
    finally:
        _close(lab, run_log, stop_monitor)


def stored_station_file(run: SweepRun, allow_station_change: bool = False, echo: Echo | None = None) -> Path | None:
    """The station file ``run`` last used: a resume without a station continues on it.

    ``None`` (the simulated default) for a simulated run without a fingerprint, or if the stored
    file is gone and a station change is allowed; :class:`InputError` otherwise (a run without a
    fingerprint measured on another station, or a stored file that is gone).
    """
    stored = expected_station(run.metadata)
    if stored is None:
        sample = run.dataset.sample_name
        if sample != "simulated" and not allow_station_change:
            why = ("predates station fingerprints" if run.format_version < 2 else
                   "was started on a station built in Python, not from a station file,")
            raise InputError(
                f"run {run.run_id} {why} and was measured on station {sample!r} (the name of its station "
                f"file), not the simulated default: pass --station FILE")
        return None
    if not Path(stored.path).is_file():
        if allow_station_change:
            return None
        raise InputError(
            f"run {run.run_id} was measured on station file {stored.describe()}, which no longer exists; "
            "pass --station FILE with the same setup (it is checked by content), or --allow-station-change "
            "to continue on another one")
    _say(echo, f"resuming run {run.run_id} on its station file {stored.path}")
    return Path(stored.path)


# --- the parts both calls share -------------------------------------------------------------------

def _close(lab: LabStation, run_log, stop_monitor) -> None:
    """Stop the monitor and the run log (if they started) and close the station's instruments."""
    try:
        if stop_monitor is not None:
            stop_monitor()
        if run_log is not None:
            run_log.stop()
    finally:
        lab.close()


def _say(echo: Echo | None, text: str) -> None:
    if echo is not None:
        echo(text)


def _connection(db, create: bool):
    return database(db, create=create) if isinstance(db, (str, Path)) else db


def _plottr_live(conn, out, plottr: bool) -> PlottrLive | None:
    """The ``plottr=True`` window, checked (display, plottr and Qt installed, a database file) before
    any instrument opens; ``None`` without ``plottr``."""
    if not plottr:
        return None
    check_plottr_live()
    path = getattr(conn, "path_to_dbfile", "")
    if not path or path == ":memory:":
        raise InputError(f"--plottr needs a database file for plottr to read, not {path or 'this connection'!r}")
    return PlottrLive(path, out)


def _check_folder(out: str | Path | None) -> None:
    if out is None:
        return
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {out}: cannot create the output folder ({error.strerror})") from None


def _measure(lab: LabStation, conn, plan: SweepPlan | None, resume_run_id: int | None, *,
             metadata: dict | None = None, allow_station_change: bool = False, retries: int, progress: bool,
             echo: Echo | None, out, live_plot: PlottrLive | None = None) -> RunResult:
    """Run the sweep with the live analysis (and plottr's live plot), then save and report it."""
    analyses: dict[int, SweepAnalysis] = {}
    analyse_seconds: list[float] = []
    live_figure = _LiveFigure(out)

    def analyse_live(index: int, run: SweepRun) -> None:
        analysis = analyses.setdefault(run.run_id, SweepAnalysis(conn, run))
        start = time.perf_counter()
        row = analysis.row(index)
        analyse_seconds.append(time.perf_counter() - start)
        _say(echo, row)
        live_figure.update(analysis, final=False)
        if live_plot is not None:
            live_plot.on_point(run.run_id)

    try:
        outcome = run_sweep(lab, plan, conn, resume_run_id=resume_run_id, retries=retries, progress=progress,
                            on_point=analyse_live, metadata=metadata, allow_station_change=allow_station_change)
    finally:
        for analysis in analyses.values():
            live_figure.update(analysis, final=True)  # the state after the last point, whatever stopped the run
    outcome.timings["analyse"] = analyse_seconds
    run = open_sweep_run(conn, outcome.run_id)
    result = _report(conn, run, outcome, analyses.get(run.run_id), out, progress, echo)
    result.plottr = live_plot.process if live_plot is not None else None
    return result


class _LiveFigure:
    """The live figure ``run<ID>_live.png`` (:func:`.sweep_report.plot_live`), redrawn within
    :data:`LIVE_FIGURE_SHARE` of the wall time; nothing without an output folder."""

    def __init__(self, out) -> None:
        self.out = out
        self.drawn = -1  # points shown in the file
        self.ready_at = -float("inf")  # perf_counter time after which drawing again keeps the share

    def update(self, analysis: SweepAnalysis, final: bool) -> None:
        if self.out is None or not analysis.results or len(analysis.results) == self.drawn:
            return
        if not final and time.perf_counter() < self.ready_at:
            return
        start = time.perf_counter()
        plot_live(analysis.results, analysis.run.plan, analysis.run.run_id, self.out)
        end = time.perf_counter()
        self.drawn = len(analysis.results)
        self.ready_at = end + (end - start) * (1.0 / LIVE_FIGURE_SHARE - 1.0)


def _report(conn, run: SweepRun, outcome: SweepOutcome, live: SweepAnalysis | None, out, progress: bool,
            echo: Echo | None) -> RunResult:
    """Save the analysis (the live one, completed) unless a complete run already has one; the summary
    table and, with ``out``, the figures."""
    analysed_now = not (outcome.already_complete and is_analysed(run))
    if analysed_now:
        analysis = live or SweepAnalysis(conn, run)
        analysis.run = run
        analysis.save(progress=progress)
    else:
        _say(echo, f"run {run.run_id} is already complete and analysed; its report:")
    raw, results = load_sweep(run), load_analysis(conn, run)
    figures = plot_sweep(raw, results, out) if out is not None else []
    return RunResult(run.run_id, outcome, raw, results, summary_table(raw, results), figures, analysed_now)
