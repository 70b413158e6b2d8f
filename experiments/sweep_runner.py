"""How a sweep is executed: one runner sets, waits, measures and saves every point.

The same runner drives the simulated and the real station (through :class:`.lab_station.LabStation`).
It validates the whole plan before any instrument moves, retries a failing instrument call a
bounded number of times (never a safety trip), and on Ctrl-C or any failure puts the source in its
safe state and leaves the run resumable: every completed point is already committed to the database, and
``run_sweep(..., resume_run_id=N)`` continues with the first missing point. Each point's readout
seed is derived from the plan's seed and the point index, so an interrupted-and-resumed run
stores the same counts as an uninterrupted one.

This module only executes; starting and resuming as the command line does (station file, readout
calibration, live analysis) is one call of :mod:`.experiment_session`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from thermalink.simulators.errors import InputError, SafetyError, ThermalinkError

from .lab_station import LabStation
from .station_fingerprint import check_resume_station, record_station_change
from .sweep_plan import SweepPlan
from .sweep_storage import SweepRun, create_sweep_run, open_sweep_run

log = logging.getLogger(__name__)
PHASES = ("set", "wait", "measure", "save")


class SweepStopped(ThermalinkError, RuntimeError):
    """The sweep stopped early (interrupt, instrument failure or safety trip); it can be resumed.

    Exit code 3, or the safety trip's (:class:`~thermalink.simulators.errors.SafetyError`, 4) if
    one stopped it.
    """

    exit_code = 3

    def __init__(self, run_id: int, reason: str, cause: BaseException | None = None):
        super().__init__(f"run {run_id} stopped: {reason}; resume with 'thermalink run --resume {run_id}'")
        self.run_id = run_id
        self.reason = reason
        if isinstance(cause, SafetyError):
            self.exit_code = cause.exit_code


@dataclass
class SweepOutcome:
    run_id: int
    points_measured: list[int] = field(default_factory=list)
    timings: dict[str, list[float]] = field(default_factory=lambda: {phase: [] for phase in PHASES})
    already_complete: bool = False


#: Failures that are never retried: the source has tripped into its safe state (interlock, hot load
#: that did not settle) and a retry would heat it again. The sweep stops and says why.
NOT_RETRIED = (SafetyError, TimeoutError)

#: Stops asked for by a signal handler (the ``thermalink`` program's SIGTERM and SIGHUP), checked
#: before every point: the handler's KeyboardInterrupt can be swallowed where it lands (numba's
#: runtime unpickling inside a compiled kernel was seen to), the request cannot. A request that
#: arrives after the last point has nothing left to stop: the run completes. Cleared when a sweep
#: handles it and when the ``thermalink run`` command ends.
_STOP_REQUESTS: list[str] = []


def request_stop(reason: str) -> None:
    """Ask the running sweep to stop (as Ctrl-C does) before its next point, at the latest."""
    _STOP_REQUESTS.append(reason)


def clear_stop_requests() -> None:
    _STOP_REQUESTS.clear()


def _stop_if_requested() -> None:
    if _STOP_REQUESTS:
        raise KeyboardInterrupt(_STOP_REQUESTS[-1])


def with_retries(action: Callable, what: str, retries: int):
    """Call ``action``; on an exception retry up to ``retries`` more times, then raise.

    Safety trips (:data:`NOT_RETRIED`) are raised at once.
    """
    for attempt in range(retries + 1):
        try:
            return action()
        except NOT_RETRIED:
            raise
        except Exception as error:  # noqa: BLE001 - instrument errors come in every type
            if attempt == retries:
                raise RuntimeError(f"{what} failed {retries + 1} times: {error!r}") from error
            log.warning("%s failed (attempt %d of %d): %r; retrying", what, attempt + 1, retries + 1, error)
    raise AssertionError("unreachable")


def run_sweep(
    lab: LabStation,
    plan: SweepPlan | None,
    conn,
    *,
    resume_run_id: int | None = None,
    retries: int = 2,
    progress: bool = True,
    on_point: Callable[[int, SweepRun], None] | None = None,
    metadata: dict[str, str] | None = None,
    allow_station_change: bool = False,
) -> SweepOutcome:
    """Measure every point of ``plan`` into a new run, or the missing points of ``resume_run_id``.

    ``on_point(index, run)`` is called after each point is saved (e.g. to analyse and print it).
    ``metadata`` (key -> text) is stored with a new run, e.g. the readout calibration it used.
    A new run stores ``lab.fingerprint`` (created in one transaction, see :func:`.create_sweep_run`);
    a resumed one must have been created completely, and be on the station it last used
    (:class:`.station_fingerprint.StationChangedError` otherwise, before the lab is asked anything)
    unless ``allow_station_change``, which records the change and the first point measured after it.
    Raises :class:`SweepStopped` after Ctrl-C or a persistent instrument failure, with the source
    in its safe state and all completed points saved.
    """
    if resume_run_id is not None:
        run = open_sweep_run(conn, resume_run_id, resume=True)
        if plan is not None and plan.to_json() != run.plan.to_json():
            raise InputError(f"run {resume_run_id} follows its own stored plan; do not pass a different plan")
        plan = run.plan
        if run.dataset.completed:
            return SweepOutcome(run_id=run.run_id, already_complete=True)
        station_changed = lab.fingerprint is not None and check_resume_station(
            run.run_id, run.metadata, lab.fingerprint, allow_station_change, no_fingerprint=(
                "it predates them" if run.format_version < 2 else
                "it was started on a station built in Python, not from a station file"))
        lab.validate_plan(plan)
    else:
        if plan is None:
            raise InputError("run_sweep needs a plan or a run to resume")
        lab.validate_plan(plan)  # before any instrument moves
        station = "null" if lab.fingerprint is None else lab.fingerprint.to_json()
        run = create_sweep_run(conn, plan, lab.sample_name, lab.snapshot(), lab.assignment(), metadata,
                               station=station)
        station_changed = False

    outcome = SweepOutcome(run_id=run.run_id)
    done = set(run.completed_points())
    todo = [i for i in range(len(plan.points)) if i not in done]
    run.set_status("running")
    bar = tqdm(total=len(plan.points), initial=len(done), desc=f"run {run.run_id}", unit="pt", disable=not progress)
    try:
        for index in todo:
            _stop_if_requested()
            point = plan.points[index]
            log.info("run %d, point %d: %s", run.run_id, index, point)
            start = time.perf_counter()
            with_retries(lambda: lab.apply(point), f"setting point {index} {point}", retries)
            settled = time.perf_counter()
            # The run's snapshot shows the station as set for its first stored point (not as found).
            first_snapshot = lab.snapshot() if not done and not outcome.points_measured else None
            settle = lab.settle_time(plan)
            with_retries(lambda: lab.wait(settle), "waiting", retries)
            waited = time.perf_counter()
            counts = with_retries(
                lambda: lab.measure(plan.settings, plan.shots, seed=plan.point_seed(index)),
                f"tomography at point {index}",
                retries,
            )
            readback = with_retries(lab.readback, "reading back the settings", retries)
            lab_link = lab.lab_link()
            measured = time.perf_counter()
            if station_changed:  # recorded with the first point actually measured on the new station
                record_station_change(run, lab.fingerprint, from_point=index)
                station_changed = False
            run.add_point(index, {**readback, "settle_time": settle}, np.asarray(counts), lab_link.as_dict())
            if first_snapshot is not None:  # after the point: the creation writes stay as they are
                run.replace_snapshot(first_snapshot, after_point=index)
            saved = time.perf_counter()
            for phase, seconds in zip(PHASES, (settled - start, waited - settled, measured - waited, saved - measured)):
                outcome.timings[phase].append(seconds)
            outcome.points_measured.append(index)
            bar.update(1)
            if on_point is not None:
                try:
                    on_point(index, run)
                except Exception:  # noqa: BLE001 - e.g. a live analysis: never stops data taking
                    log.exception("on_point failed at point %d; the point is saved, the sweep goes on", index)
    except KeyboardInterrupt as interrupt:
        # A signal deferred by QCoDeS comes back as a bare KeyboardInterrupt: its reason is the request's.
        reason = str(interrupt) or (_STOP_REQUESTS[-1] if _STOP_REQUESTS else "interrupted by the user")
        clear_stop_requests()
        log.warning("run %d interrupted (%s); source made safe", run.run_id, reason)
        lab.safe_state()
        run.set_status("interrupted")
        raise SweepStopped(run.run_id, reason) from None
    except Exception as error:  # noqa: BLE001 - whatever failed, the source goes safe first
        log.error("run %d stopped: %r; source made safe", run.run_id, error)
        lab.safe_state()
        run.set_status(f"stopped: {error!r}")
        raise SweepStopped(run.run_id, repr(error), cause=error) from error
    except BaseException:  # SystemExit and the like: safe, recorded, and on its way
        lab.safe_state()
        run.set_status("stopped: the process was asked to exit")
        raise
    finally:
        bar.close()
    run.complete()
    lab.safe_state()
    return outcome
