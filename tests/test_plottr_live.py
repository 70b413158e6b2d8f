"""``thermalink run --plottr``: plottr's live autoplot in a process of its own (headless: Qt offscreen).

The end-to-end test runs a short sweep through the command line with ``QT_QPA_PLATFORM=offscreen``;
the plottr process it starts prints what its QCoDeS loader holds (one JSON line per load, into
``run<ID>_plottr.log``), and is terminated when the test ends.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time

import pytest
from qcodes.instrument import Instrument

from thermalink.experiments import plottr_live
from thermalink.experiments.cli import build_parser, main
from thermalink.experiments.sweep_storage import database, open_sweep_run

RUN = ["run", "--points", "2", "--bandwidth", "1e4", "1e6", "--temperature", "12", "--shots", "300",
       "--bootstrap", "20", "--settle", "0", "--no-calibrate-readout"]
#: Seconds the plottr process may take to start and load the run (a shared machine: imports Qt and QCoDeS).
LOAD_TIMEOUT_S = 90


@pytest.fixture
def launched(monkeypatch):
    """The plottr processes a test starts (through the real :func:`.plottr_live.launch_plottr`), ended after it."""
    processes = []
    real = plottr_live.launch_plottr

    def launch_and_record(*args, **kwargs):
        processes.append(real(*args, **kwargs))
        return processes[-1]

    monkeypatch.setattr(plottr_live, "launch_plottr", launch_and_record)
    yield processes
    for process in processes:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def no_display(monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)


def refuse_instruments(monkeypatch):
    from thermalink.experiments import experiment_session

    def opened(*args, **kwargs):
        raise AssertionError("an instrument was opened")

    monkeypatch.setattr(experiment_session.LabStation, "from_config", opened)


def test_run_with_plottr_opens_the_run_in_plottr_which_sees_its_counts(tmp_path, monkeypatch, launched, capsys):
    pytest.importorskip("plottr", reason="plottr and PyQt5 come with the 'test' extra")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    db, out = tmp_path / "thermalink.db", tmp_path / "figures"
    assert main([*RUN, "--db", str(db), "--out", str(out), "--plottr"]) == 0
    Instrument.close_all()
    [process] = launched
    assert f"plottr (pid {process.pid})" in capsys.readouterr().out
    run = open_sweep_run(database(db), 1)
    log = out / "run1_plottr.log"
    loads, deadline = [], time.monotonic() + LOAD_TIMEOUT_S
    while time.monotonic() < deadline and not (loads and loads[-1]["records"] == 2):
        assert process.poll() is None, log.read_text()  # plottr keeps running after the run
        time.sleep(0.2)
        loads = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert loads, f"plottr did not load the run: {log.read_text()}"
    last = loads[-1]
    assert (last["run_id"], last["guid"], last["records"]) == (1, run.dataset.guid, 2)
    # the run's real axes (storage format 3; plottr suffixes a setpoint that dependents of different
    # shapes share, e.g. bandwidth_0)
    axes = [re.sub(r"_\d+$", "", axis) for axis in last["dependents"]["counts"]]
    assert axes == ["bandwidth", "setting_index", "outcome_index"]
    assert "point_index" in last["dependents"]


def test_no_display_is_bad_input_before_any_instrument_opens(tmp_path, monkeypatch, capsys):
    no_display(monkeypatch)
    refuse_instruments(monkeypatch)
    assert main([*RUN, "--db", str(tmp_path / "t.db"), "--out", str(tmp_path), "--plottr"]) == 2
    error = capsys.readouterr().err
    assert "--plottr needs a display" in error and "DISPLAY" in error and "without --plottr" in error


def test_plottr_not_installed_is_bad_input_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    refuse_instruments(monkeypatch)
    real = plottr_live.importlib.util.find_spec
    monkeypatch.setattr(plottr_live.importlib.util, "find_spec",
                        lambda name, *a: None if name == "plottr" else real(name, *a))
    assert main([*RUN, "--db", str(tmp_path / "t.db"), "--plottr"]) == 2
    error = capsys.readouterr().err
    assert "--plottr needs plottr" in error and "pip install plottr PyQt5" in error


def test_what_plottr_needs_by_platform_and_environment():
    assert plottr_live.missing_for_plottr({}, "linux") is not None
    assert plottr_live.missing_for_plottr({"QT_QPA_PLATFORM": "xcb"}, "linux") is not None
    for environ in ({"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}, {"QT_QPA_PLATFORM": "offscreen"}):
        assert plottr_live.missing_for_plottr(environ, "linux") is None, environ
    assert plottr_live.missing_for_plottr({}, "darwin") is None  # a Mac or Windows session has its display


def test_a_plottr_that_died_is_logged_once_and_the_run_goes_on(tmp_path, caplog):
    live = plottr_live.PlottrLive(tmp_path / "t.db", None)
    live.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    live.process.wait()
    with caplog.at_level(logging.WARNING, logger=plottr_live.__name__):
        live.on_point(1)
        live.on_point(1)
    [record] = caplog.records
    assert f"pid {live.process.pid}" in record.getMessage() and "exit code 3" in record.getMessage()


def test_plottr_option_help_states_its_default():
    run = next(action for action in build_parser()._subparsers._group_actions[0].choices["run"]._actions
               if "--plottr" in action.option_strings)
    assert run.default is False and "default: off" in run.help and "display" in run.help
