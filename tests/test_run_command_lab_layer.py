"""``thermalink run`` end to end with the everyday lab layer, on a copy of the simulated station:
its log (beside the figures, instrument traffic at debug level), the calibration it used (written
into the station file beforehand) and ``--monitor``. One run, interrupted at its second point and
resumed with ``--monitor``, serves every test here (a run through the command line takes seconds)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
from qcodes.instrument import Instrument
from qcodes.logger import logfile_to_dataframe
from websockets.sync.client import connect

from thermalink.experiments.calibration_store import CALIBRATION_ORIGIN_KEY, write_assignment_errors
from thermalink.experiments.cli import main
from thermalink.experiments.lab_monitor import free_port
from thermalink.experiments.run_log import logged_paths
from thermalink.experiments.sweep_storage import database, open_sweep_run
from thermalink.station_configs import station_config_path

ERRORS = [0.021, 0.049, 0.019, 0.052]
RUN = ["--points", "2", "--bandwidth", "1e4", "1e6", "--temperature", "12", "--shots", "300", "--bootstrap", "20",
       "--settle", "0", "--no-calibrate-readout"]


def frame_parameters(frame: dict) -> dict:
    return {entry["name"]: entry["value"] for group in frame["parameters"] for entry in group["parameters"]}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from thermalink.experiments import sweep_runner

    folder = tmp_path_factory.mktemp("lab_layer")
    station = folder / "station.yaml"
    station.write_text(station_config_path("simulated").read_text())
    write_assignment_errors(station, ERRORS)
    db, out = folder / "thermalink.db", folder / "figures"
    common = ["--station", str(station), "--db", str(db), "--out", str(out)]

    original, calls = sweep_runner.LabStation.measure, {"n": 0}

    def measure_then_interrupt(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("stopped by the test")
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep_runner.LabStation, "measure", measure_then_interrupt)
        first = main(["run", *common, *RUN])
    Instrument.close_all()  # as the ended process would
    log_after_interrupt = Path(logged_paths(open_sweep_run(database(db), 1).dataset.metadata)[0]).read_text()
    handlers_after_interrupt = list(logging.getLogger().handlers)

    port, frames, done = free_port(), [], threading.Event()

    def listen():
        while not done.is_set():
            try:
                with connect(f"ws://127.0.0.1:{port}", open_timeout=1) as client:
                    while not done.is_set():
                        frames.append(frame_parameters(json.loads(client.recv(timeout=5))))
            except Exception:  # noqa: BLE001 - not up yet, or closed at the end of the sweep
                time.sleep(0.05)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    original_readback = sweep_runner.LabStation.readback

    def slow_readback(self):  # a point that takes a while, as on hardware: frames arrive meanwhile
        values = original_readback(self)
        time.sleep(1.5)
        return values

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sweep_runner.LabStation, "readback", slow_readback)
            resumed = main(["run", "--resume", "1", "--db", str(db), "--out", str(out), "--bootstrap", "20",
                            "--monitor", str(port)])
    finally:
        done.set()
        listener.join(timeout=10)
    Instrument.close_all()
    return dict(station=station, db=db, out=out, codes=(first, resumed), port=port, frames=frames,
                log_after_interrupt=log_after_interrupt, handlers_after_interrupt=handlers_after_interrupt,
                metadata=open_sweep_run(database(db), 1).dataset.metadata)


def test_the_interrupted_run_exits_3_and_the_resumed_one_completes(session):
    assert session["codes"] == (3, 0)
    assert session["metadata"]["thermalink_status"] == "completed"


def test_the_run_log_sits_beside_the_figures_and_the_metadata_names_it(session):
    [path] = logged_paths(session["metadata"])  # the resume continued the same file
    assert Path(path).parent == session["out"].resolve()
    assert (session["out"] / "run1_bandwidth.png").is_file()
    assert "run 1 interrupted (stopped by the test); source made safe" in session["log_after_interrupt"]
    assert not [h for h in session["handlers_after_interrupt"]
                if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == Path(path)]  # detached


def test_the_run_log_holds_instrument_traffic_at_debug_level_in_qcodes_format(session):
    [path] = logged_paths(session["metadata"])
    frame = logfile_to_dataframe(path)  # QCoDeS reads it back: its own format
    traffic = frame[(frame.levelname == "DEBUG") & frame.message.str.contains(r"\] (?:Writing|Querying|Response):")]
    assert {"attenuator", "tunable_filter"} <= {m.split("(")[0].lstrip("[") for m in traffic.message}
    points = frame[frame.message.str.startswith("run 1, point ")]
    # point 1 started, interrupted, and started again by the resume
    assert list(points.message.str[:14]) == ["run 1, point 0", "run 1, point 1", "run 1, point 1"]
    assert set(points.levelname) == {"INFO"}
    assert frame.message.str.contains("(resuming run 1)", regex=False).any()
    assert not frame.name.str.startswith("pyvisa").any()  # other libraries only from INFO up


def test_the_run_names_the_calibration_it_used_from_the_station_file(session):
    origin = json.loads(session["metadata"][CALIBRATION_ORIGIN_KEY])
    assert origin["source"] == "station file" and origin["station_file"] == str(session["station"])
    assert origin["assignment_errors"] == pytest.approx(ERRORS)
    assert origin["station_fingerprint"] is not None
    assert json.loads(session["metadata"]["thermalink_assignment"])[0][0][1] == pytest.approx(ERRORS[1])


def test_monitor_serves_the_values_the_run_sets_and_stops_with_it(session):
    temperatures = [float(frame["Hot-load temperature"]) for frame in session["frames"]
                    if "Hot-load temperature" in frame]
    assert temperatures and temperatures[-1] == pytest.approx(12.0, abs=0.1)
    with pytest.raises(OSError):  # stopped with the run
        with connect(f"ws://127.0.0.1:{session['port']}", open_timeout=1):
            pass
