"""Every run writes a QCoDeS-format log beside its figures, named in its metadata, with the
instrument traffic at debug level."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from qcodes.instrument import Instrument
from qcodes.logger import logfile_to_dataframe

from thermalink.experiments.cli import main
from thermalink.experiments.run_log import RUN_LOG_KEY, logged_paths, start_run_log
from thermalink.experiments.sweep_storage import database, open_sweep_run

RUN = ["--points", "2", "--bandwidth", "1e4", "1e6", "--shots", "300", "--bootstrap", "20", "--settle", "0",
       "--no-calibrate-readout"]


def test_a_run_logs_beside_its_figures_with_instrument_traffic_and_its_resume_continues_the_log(
        tmp_path, monkeypatch):
    """One run through the command line, interrupted at its second point, then resumed."""
    from thermalink.experiments import sweep_runner

    db, out = tmp_path / "thermalink.db", tmp_path / "figures"
    calls = {"n": 0}
    original = sweep_runner.LabStation.measure

    def measure_then_interrupt(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("stopped by the test")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sweep_runner.LabStation, "measure", measure_then_interrupt)
    assert main(["run", "--db", str(db), "--out", str(out), *RUN]) == 3
    monkeypatch.undo()
    Instrument.close_all()  # as the ended process would
    [path] = logged_paths(open_sweep_run(database(db), 1).dataset.metadata)
    assert Path(path).parent == out.resolve() and Path(path).is_file()
    assert "run 1 interrupted (stopped by the test); source made safe" in Path(path).read_text()
    assert not [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)
                and Path(h.baseFilename) == Path(path)]  # detached when the command ended

    assert main(["run", "--resume", "1", "--db", str(db), "--out", str(out), "--bootstrap", "20"]) == 0
    assert logged_paths(open_sweep_run(database(db), 1).dataset.metadata) == [path]
    assert (out / "run1_bandwidth.png").is_file()  # the figures it sits beside
    frame = logfile_to_dataframe(path)  # QCoDeS reads it back: its own format
    traffic = frame[(frame.levelname == "DEBUG") & frame.message.str.contains(r"\] (?:Writing|Querying|Response):")]
    assert {"attenuator", "tunable_filter"} <= {m.split("(")[0].lstrip("[") for m in traffic.message}
    points = frame[frame.message.str.startswith("run 1, point ")]
    # point 1 started, interrupted, and started again by the resume
    assert list(points.message.str[:14]) == ["run 1, point 0", "run 1, point 1", "run 1, point 1"]
    assert set(points.levelname) == {"INFO"}
    assert frame.message.str.contains("(resuming run 1)", regex=False).any()
    assert not frame.name.str.startswith("pyvisa").any()  # other libraries only from INFO up


def test_a_resumed_run_whose_log_is_gone_starts_a_new_one_and_names_both(tmp_path):
    class Dataset:
        run_id = 5
        metadata = {RUN_LOG_KEY: json.dumps([str(tmp_path / "gone.log")])}

        def add_metadata(self, key, value):
            self.metadata = {**self.metadata, key: value}

    dataset = Dataset()
    run_log = start_run_log(tmp_path / "new", dataset)
    try:
        logging.getLogger("thermalink.test").debug("a debug line")
    finally:
        run_log.stop()
    paths = logged_paths(dataset.metadata)
    assert paths[0] == str(tmp_path / "gone.log") and Path(paths[1]).parent == (tmp_path / "new").resolve()
    assert "a debug line" in Path(paths[1]).read_text()
    logging.getLogger("thermalink.test").debug("after stop")
    assert "after stop" not in Path(paths[1]).read_text()
