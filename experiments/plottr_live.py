"""``thermalink run --plottr``: plottr's QCoDeS autoplot of the run being measured, in a process of its own.

The window is plottr's own live app, :func:`plottr.apps.autoplot.autoplotQcodesDataset` on the run's
database file and run id, re-reading the run every :data:`REFRESH_S` seconds (its monitor toolbar).
It runs as a separate process (``python -m thermalink.experiments.plottr_live DB RUN_ID``, in a new
session), so the measurement never waits on the GUI, closing the window never stops the run, and
Ctrl-C in the run's terminal does not close the window. The window stays open after the run ends.

Policy:

* :func:`check_plottr_live` runs before any instrument opens: no display (Linux without ``DISPLAY``
  or ``WAYLAND_DISPLAY``, and ``QT_QPA_PLATFORM`` not ``offscreen``), or plottr or a Qt binding not
  installed, is an :class:`~thermalink.simulators.errors.InputError` (exit 2) saying what to do.
* :class:`PlottrLive` starts the process at the first stored point (the run exists and has data);
  a resumed run gets it at its first newly measured point.
* A plottr process that dies or is closed during the run is logged once (a warning, in the run log)
  and the run goes on: the plot is a view, never part of the measurement.
* The process's own output (one JSON line per load: records, and each dependent's axes) goes to
  ``run<ID>_plottr.log`` beside the figures, or nowhere without an output folder.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from thermalink.simulators.errors import InputError

#: Seconds between plottr's re-reads of the run (its monitor interval).
REFRESH_S = 2.0
#: Qt bindings plottr can use (through qtpy), any one of them.
QT_BINDINGS = ("PyQt5", "PyQt6", "PySide2", "PySide6")

log = logging.getLogger(__name__)


def missing_for_plottr(environ=None, platform: str | None = None) -> str | None:
    """What keeps plottr's live window from opening here, or ``None`` if nothing does."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    missing = [name for name in ("plottr", "qtpy") if importlib.util.find_spec(name) is None]
    if not any(importlib.util.find_spec(name) is not None for name in QT_BINDINGS):
        missing.append("a Qt binding (" + ", ".join(QT_BINDINGS) + ")")
    if missing:
        return (f"--plottr needs {' and '.join(missing)}, which is not installed: pip install plottr PyQt5 "
                "(or thermalink's 'test' extra), or run without --plottr")
    offscreen = environ.get("QT_QPA_PLATFORM", "") == "offscreen"
    if platform.startswith("linux") and not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY") or offscreen):
        return ("--plottr needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set (QT_QPA_PLATFORM is not "
                "offscreen): run on a desktop session or with ssh -X, or run without --plottr and open the run "
                "later with plottr-inspectr --dbpath DB")
    return None


def check_plottr_live(environ=None, platform: str | None = None) -> None:
    """Raise :class:`InputError` naming what is missing for ``--plottr`` (call before any instrument opens)."""
    problem = missing_for_plottr(environ, platform)
    if problem is not None:
        raise InputError(problem)


def launch_plottr(db: str | Path, run_id: int, *, refresh_s: float = REFRESH_S, output: Path | None = None):
    """Start plottr's live autoplot of run ``run_id`` of database file ``db``; returns the ``Popen``.

    ``output``: file for the process's output (default: discarded).
    """
    command = [sys.executable, "-m", __name__, str(Path(db).resolve()), str(int(run_id)), "--refresh", str(refresh_s)]
    sink = open(output, "ab") if output is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        if output is not None:
            sink.close()  # the child holds its own copy


class PlottrLive:
    """The ``--plottr`` window of one session: started once, at the run's first stored point; a death logged."""

    def __init__(self, db, out: str | Path | None, refresh_s: float = REFRESH_S) -> None:
        self.db, self.out, self.refresh_s = db, out, refresh_s
        self.process: subprocess.Popen | None = None
        self._death_logged = False

    def on_point(self, run_id: int) -> None:
        """After a stored point: start plottr on the run if it is not running yet, else check it is alive."""
        if self.process is None:
            output = Path(self.out) / f"run{run_id}_plottr.log" if self.out is not None else None
            self.process = launch_plottr(self.db, run_id, refresh_s=self.refresh_s, output=output)
            log.info("plottr (pid %d) shows run %d of %s live, refreshed every %g s", self.process.pid, run_id,
                     self.db, self.refresh_s)
        elif not self._death_logged and self.process.poll() is not None:
            self._death_logged = True
            log.warning("plottr (pid %d) ended with exit code %s during the run; the run goes on without it",
                        self.process.pid, self.process.returncode)


# --- the plottr process ----------------------------------------------------------------------------

def loaded_summary(data, records: int) -> dict:
    """What plottr's loader holds: the run, its records and each dependent's axes (one JSON line per load)."""
    return {"run_id": data.meta_val("qcodes_runId"), "guid": data.meta_val("qcodes_guid"), "records": records,
            "dependents": {name: data.axes(name) for name in data.dependents()}}


def build_app(db: str | Path, run_id: int, refresh_s: float = REFRESH_S):
    """plottr's QCoDeS autoplot on run ``run_id``, monitoring it every ``refresh_s`` s; needs a QApplication.

    Returns ``(flowchart, window)``; each load that brings new records prints a JSON line
    (:func:`loaded_summary`).
    """
    from plottr.apps.autoplot import autoplotQcodesDataset

    flowchart, window = autoplotQcodesDataset(pathAndId=(str(db), int(run_id)))
    window.setMonitorInterval(refresh_s)
    loader = flowchart.nodes()["Data loader"]

    reported = [0]

    def report() -> None:  # after each of the window's re-reads (connected after its refresh)
        data = loader.outputValues().get("dataOut")
        if data is not None and loader.nLoadedRecords > reported[0]:
            reported[0] = loader.nLoadedRecords
            print(json.dumps(loaded_summary(data, loader.nLoadedRecords)), flush=True)

    report()
    window.monitorToolBar.trigger.connect(report)
    return flowchart, window


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="plottr's live autoplot of a thermalink run")
    parser.add_argument("db", type=Path, help="QCoDeS database file")
    parser.add_argument("run_id", type=int, help="run id")
    parser.add_argument("--refresh", type=float, default=REFRESH_S, help="seconds between re-reads")
    args = parser.parse_args(argv)
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    _flowchart, _window = build_app(args.db, args.run_id, args.refresh)
    return app.exec_()


if __name__ == "__main__":
    sys.exit(main())
