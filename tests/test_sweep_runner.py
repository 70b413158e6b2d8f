"""The sweep runner on the simulated station: validation, storage, interruption, faults, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pyvisa.errors import VisaIOError

from thermalink.experiments.lab_station import LabStation, load_station
from thermalink.experiments.sweep_plan import SweepPlan, bandwidth_sweep, log_range, temperature_sweep
from thermalink.experiments.sweep_runner import SweepStopped, run_sweep
from thermalink.experiments.sweep_storage import database, load_sweep, open_sweep_run


def small_plan(**options) -> SweepPlan:
    defaults = dict(shots=300, bootstrap=20, seed=7)
    defaults.update(options)
    return bandwidth_sweep(log_range(1e4, 1e7, 4), temperature_K=30.0, attenuation_dB=0.0, **defaults)


@pytest.fixture
def lab() -> LabStation:
    return LabStation.from_config()


@pytest.fixture
def conn(tmp_path):
    return database(tmp_path / "sweeps.db")


def heater_is_off(lab: LabStation) -> bool:
    return lab.source.heater.output_range() == "off"


def test_sweep_stores_every_point_with_counts_and_settings(lab, conn):
    plan = small_plan()
    outcome = run_sweep(lab, plan, conn, progress=False)
    run = open_sweep_run(conn, outcome.run_id)
    data = load_sweep(run)
    assert run.dataset.completed and data.attrs["status"] == "completed"
    assert data["counts"].shape == (4, 9, 4)
    assert (data["counts"].sum("outcome") == 300).all()
    np.testing.assert_allclose(data["bandwidth"], [p["bandwidth"] for p in plan.points], rtol=1e-6)
    assert np.all(np.abs(data["temperature"] - 30.0) < 0.1)
    assert np.all(data["occupation"] > 90)  # ~104 at 30 K and 6 GHz through the line
    assert np.all(data["settle_time"] > 0)
    assert SweepPlan.from_json(data.attrs["plan"]) == plan
    assert "station" in run.dataset.snapshot
    assert outcome.points_measured == [0, 1, 2, 3]
    assert not lab.source.output() and heater_is_off(lab)  # left safe at the end


def test_settle_time_is_several_relaxation_times_of_the_twin(lab, conn):
    plan = small_plan(settle_factor=5.0)
    run = open_sweep_run(conn, run_sweep(lab, plan, conn, progress=False).run_id)
    settle = load_sweep(run)["settle_time"].values
    bandwidths = np.array([p["bandwidth"] for p in plan.points])
    # In the adiabatic regime the link relaxes at kappa: 5 / (2 pi * bandwidth).
    assert settle[0] == pytest.approx(5 / (2 * np.pi * bandwidths[0]), rel=0.05)
    assert np.all(settle >= 5 / (2 * np.pi * bandwidths) * 0.99)


def test_bad_sweep_values_are_rejected_before_any_instrument_moves(lab, conn):
    start = lab.source.bandwidth()
    plan = bandwidth_sweep([1e4, 5e9], temperature_K=30.0, shots=100)
    with pytest.raises(ValueError, match=r"point 1: bandwidth=5000000000.0 Hz"):
        run_sweep(lab, plan, conn, progress=False)
    too_hot = temperature_sweep([10.0, 400.0], bandwidth_Hz=1e5, shots=100)
    with pytest.raises(ValueError, match="point 1: temperature=400.0 K"):
        run_sweep(lab, too_hot, conn, progress=False)
    assert lab.source.bandwidth() == start
    assert lab.source.temperature() < 5.0  # never heated


@pytest.mark.parametrize(
    "options, message",
    [({"shots": -5}, "shots=-5"), ({"settle_s": -1.0}, "settle_s=-1.0"), ({"settle_s": float("inf")}, "settle_s=inf"),
     ({"settle_factor": float("inf")}, "settle_factor=inf"),
     ({"bootstrap": 5}, r"bootstrap=5 is outside the allowed range: integers in \[20, 10000\]")],
)
def test_bad_plan_options_name_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        small_plan(**options)


def test_unknown_station_file_and_missing_instruments_are_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_station(tmp_path / "nope.yaml")
    config = tmp_path / "partial.yaml"
    config.write_text("instruments:\n  fridge:\n    type: qcodes.instrument_drivers.mock_instruments.DummyInstrument\n")
    with pytest.raises(ValueError, match=r"lacks the instruments \['source', 'readout'\]"):
        load_station(config)


def test_interrupted_sweep_resumes_without_repeating_or_losing_points(lab, conn):
    plan = small_plan()
    reference = load_sweep(open_sweep_run(conn, run_sweep(lab, plan, conn, progress=False).run_id))

    def interrupt_after_second(index, run):
        if index == 1:
            raise KeyboardInterrupt

    with pytest.raises(SweepStopped) as stopped:
        run_sweep(lab, plan, conn, progress=False, on_point=interrupt_after_second)
    run_id = stopped.value.run_id
    assert not lab.source.output() and heater_is_off(lab)
    partial = open_sweep_run(conn, run_id)
    assert partial.completed_points() == [0, 1]
    assert load_sweep(partial).attrs["status"] == "interrupted"

    outcome = run_sweep(lab, None, conn, resume_run_id=run_id, progress=False)
    assert outcome.points_measured == [2, 3]
    resumed = load_sweep(open_sweep_run(conn, run_id))
    np.testing.assert_array_equal(resumed["counts"].values, reference["counts"].values)
    # Not by luck of the draws: the twin behind the counts is the same link, exactly, although the
    # hot load's read-back differs (it cooled while the run was stopped).
    assert list(resumed["lab_link"].values) == list(reference["lab_link"].values)
    assert run_sweep(lab, None, conn, resume_run_id=run_id, progress=False).already_complete


def test_an_interrupt_inside_a_database_write_loses_only_the_point_in_flight(lab, conn, monkeypatch):
    """A SIGTERM that lands inside QCoDeS' write of a point (its transaction open, not rolled back:
    QCoDeS rolls back on an Exception only) used to make recording the status fail; now the write is
    rolled back, the run is marked interrupted, and the resume measures that point again."""
    from qcodes.dataset.sqlite import query_helpers

    plan = small_plan()
    reference = load_sweep(open_sweep_run(conn, run_sweep(lab, plan, conn, progress=False).run_id))
    inserts = {"points": 0}
    execute = query_helpers.transaction

    def interrupted_insert(connection, sql, *args):
        cursor = execute(connection, sql, *args)
        if sql.lstrip().upper().startswith("INSERT"):
            inserts["points"] += 1
            if inserts["points"] == 2:  # the second point's rows are written, not yet committed
                raise KeyboardInterrupt("stopped by signal SIGTERM")
        return cursor

    monkeypatch.setattr(query_helpers, "transaction", interrupted_insert)
    with pytest.raises(SweepStopped) as stopped:
        run_sweep(lab, plan, conn, progress=False)
    monkeypatch.setattr(query_helpers, "transaction", execute)
    partial = open_sweep_run(conn, stopped.value.run_id)
    assert load_sweep(partial).attrs["status"] == "interrupted"
    assert partial.completed_points() == [0]
    assert not lab.source.output() and heater_is_off(lab)
    outcome = run_sweep(lab, None, conn, resume_run_id=stopped.value.run_id, progress=False)
    assert outcome.points_measured == [1, 2, 3]
    resumed = load_sweep(open_sweep_run(conn, stopped.value.run_id))
    np.testing.assert_array_equal(resumed["counts"].values, reference["counts"].values)


def test_a_polite_kill_requests_the_stop_and_defers_to_an_installed_sigint_handler():
    """The ``thermalink run`` handler of SIGTERM and SIGHUP records the stop with the sweep, then
    hands the signal to QCoDeS' SIGINT handler when one is installed (it defers the interrupt to the
    end of a database write), and otherwise stops at once."""
    from thermalink.experiments.cli import _polite_kill

    requests, received = [], []
    interrupt = _polite_kill(requests.append)
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        interrupt(signal.SIGTERM, None)
        assert received == [signal.SIGINT] and requests == ["stopped by signal SIGTERM"]
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with pytest.raises(KeyboardInterrupt, match="stopped by signal SIGHUP"):
            interrupt(signal.SIGHUP, None)
        assert requests[-1] == "stopped by signal SIGHUP"
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_stop_request_stops_the_sweep_even_when_its_interrupt_was_swallowed(lab, conn):
    """A signal's KeyboardInterrupt can vanish where it lands (seen inside numba's runtime during
    the live analysis); the stop it requested still ends the sweep before the next point."""
    from thermalink.experiments.sweep_runner import _STOP_REQUESTS, request_stop

    def swallowed_at_second(index, run):
        if index == 1:
            request_stop("stopped by signal SIGTERM")  # and its KeyboardInterrupt never arrives

    with pytest.raises(SweepStopped, match="SIGTERM") as stopped:
        run_sweep(lab, small_plan(), conn, progress=False, on_point=swallowed_at_second)
    partial = open_sweep_run(conn, stopped.value.run_id)
    assert partial.completed_points() == [0, 1]
    assert load_sweep(partial).attrs["status"] == "interrupted"
    assert not lab.source.output() and heater_is_off(lab)
    assert not _STOP_REQUESTS  # handled: the resume is not stopped by it
    assert run_sweep(lab, None, conn, resume_run_id=stopped.value.run_id, progress=False).points_measured == [2, 3]


def test_a_stop_deferred_by_qcodes_keeps_its_reason_and_a_late_one_lets_the_run_complete(lab, conn):
    """QCoDeS re-raises a deferred signal as a bare KeyboardInterrupt: the stop's reason comes from
    the request. A request made during the last point finds nothing left to stop."""
    from thermalink.experiments.sweep_runner import clear_stop_requests, request_stop

    def deferred_at_first(index, run):
        if index == 0:
            request_stop("stopped by signal SIGHUP")
            raise KeyboardInterrupt  # as DelayedKeyboardInterrupt raises it at the end of a write

    with pytest.raises(SweepStopped, match="stopped by signal SIGHUP"):
        run_sweep(lab, small_plan(), conn, progress=False, on_point=deferred_at_first)

    def late(index, run):
        if index == 3:
            request_stop("stopped by signal SIGTERM")

    try:
        outcome = run_sweep(lab, small_plan(), conn, progress=False, on_point=late)
    finally:
        clear_stop_requests()
    assert outcome.points_measured == [0, 1, 2, 3]
    assert load_sweep(open_sweep_run(conn, outcome.run_id)).attrs["status"] == "completed"


def test_a_flaky_instrument_is_retried(lab, conn, monkeypatch):
    calls = {"n": 0}
    acquire = type(lab.readout)._acquire

    def flaky(self, settings, shots):
        calls["n"] += 1
        if calls["n"] == 2:
            raise VisaIOError(-1073807339)  # VI_ERROR_TMO: a transient VISA timeout
        return acquire(self, settings, shots)

    monkeypatch.setattr(type(lab.readout), "_acquire", flaky)
    outcome = run_sweep(lab, small_plan(), conn, progress=False, retries=2)
    assert outcome.points_measured == [0, 1, 2, 3]
    assert calls["n"] == 5


def test_a_failing_instrument_stops_the_sweep_safely_and_resumably(lab, conn, monkeypatch):
    plan = small_plan()
    calls = {"n": 0}
    set_bandwidth = lab.source.bandwidth.set

    def failing_from_third_point(value):
        calls["n"] += 1
        if calls["n"] >= 3:
            raise ConnectionError("filter controller not responding")
        return set_bandwidth(value)

    monkeypatch.setattr(lab.source.bandwidth, "set", failing_from_third_point)
    with pytest.raises(SweepStopped, match="filter controller not responding") as stopped:
        run_sweep(lab, plan, conn, progress=False, retries=1)
    assert calls["n"] == 4  # the third point: one try and one retry
    assert not lab.source.output() and heater_is_off(lab)
    run = open_sweep_run(conn, stopped.value.run_id)
    assert run.completed_points() == [0, 1]
    assert load_sweep(run).attrs["status"].startswith("stopped")


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from thermalink.experiments.lab_station import LabStation
    from thermalink.experiments.sweep_plan import bandwidth_sweep, log_range
    from thermalink.experiments.sweep_runner import run_sweep
    from thermalink.experiments.sweep_storage import database

    plan = bandwidth_sweep(log_range(1e4, 1e7, 4), temperature_K=30.0, attenuation_dB=0.0, shots=300, seed=7)

    def die(index, run):
        if index == 2:
            print(f"RUN_ID={run.run_id}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    run_sweep(LabStation.from_config(), plan, database(sys.argv[1]), progress=False, on_point=die)
    """
)


def test_a_run_killed_hard_resumes_to_the_same_dataset_as_an_uninterrupted_one(lab, conn, tmp_path):
    db = tmp_path / "killed.db"
    result = subprocess.run([sys.executable, "-c", KILLED_RUN, str(db)], capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr
    run_id = int(result.stdout.split("RUN_ID=")[1].split()[0])
    killed = database(db)
    assert open_sweep_run(killed, run_id).completed_points() == [0, 1, 2]
    run_sweep(lab, None, killed, resume_run_id=run_id, progress=False)
    resumed = load_sweep(open_sweep_run(killed, run_id))
    plan = small_plan()
    reference = load_sweep(open_sweep_run(conn, run_sweep(lab, plan, conn, progress=False).run_id))
    np.testing.assert_array_equal(resumed["counts"].values, reference["counts"].values)
    np.testing.assert_allclose(resumed["bandwidth"].values, reference["bandwidth"].values)
    assert os.path.getsize(db) > 0


def test_a_failing_live_analysis_does_not_stop_data_taking(lab, conn):
    def broken_analysis(index, run):
        raise np.linalg.LinAlgError("singular matrix")

    outcome = run_sweep(lab, small_plan(), conn, progress=False, on_point=broken_analysis)
    assert outcome.points_measured == [0, 1, 2, 3]
    assert open_sweep_run(conn, outcome.run_id).dataset.completed


def test_any_failure_mid_sweep_leaves_the_source_safe(lab, conn, monkeypatch):
    calls = {"n": 0}
    settle_time = LabStation.settle_time

    def failing_twice(self, plan):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ValueError("the twin cannot describe this point")
        return settle_time(self, plan)

    monkeypatch.setattr(LabStation, "settle_time", failing_twice)
    with pytest.raises(SweepStopped, match="cannot describe") as stopped:
        run_sweep(lab, small_plan(), conn, progress=False)
    assert not lab.source.output() and heater_is_off(lab)
    assert load_sweep(open_sweep_run(conn, stopped.value.run_id)).attrs["status"].startswith("stopped")


def test_an_interlock_trip_is_never_retried(lab, conn, monkeypatch):
    from thermalink.drivers.thermal_source import InterlockError

    attempts = {"n": 0}

    def tripping(point):
        attempts["n"] += 1
        raise InterlockError("mixing chamber at 0.3 K is above its limit")

    monkeypatch.setattr(lab, "apply", tripping)
    with pytest.raises(SweepStopped, match="mixing chamber"):
        run_sweep(lab, small_plan(), conn, progress=False, retries=3)
    assert attempts["n"] == 1
    assert not lab.source.output() and heater_is_off(lab)


def test_qubit_parameters_the_twin_rejects_stop_the_plan_before_anything_moves(lab, conn):
    lab.readout.t1(1.6e-7)  # longer than the waveguide allows for a 1 MHz linewidth
    with pytest.raises(ValueError, match="t1_s=1.6e-07"):
        run_sweep(lab, small_plan(), conn, progress=False)
    assert lab.source.temperature() < 5.0


def test_a_run_without_points_says_so(lab, conn):
    from thermalink.experiments.sweep_storage import create_sweep_run

    run = create_sweep_run(conn, small_plan(), "simulated", {}, lab.assignment())
    with pytest.raises(ValueError, match=f"run {run.run_id} has no measured points yet"):
        load_sweep(run)


def warm_the_fridge(lab: LabStation) -> None:
    lab.source.part("fridge").set_simulated_temperature(lab.source._mixing_chamber_channel, 1.0)


def test_a_fridge_warming_while_the_load_is_held_stops_the_sweep_safely_and_resumably(lab, conn, monkeypatch):
    settle, calls = lab.readout.settle, {"n": 0}

    def warming_during_the_third_wait(seconds):
        calls["n"] += 1
        if calls["n"] == 3:  # point 2: same load temperature, so no ramp re-checks the fridge
            warm_the_fridge(lab)
        settle(seconds)

    monkeypatch.setattr(lab.readout, "settle", warming_during_the_third_wait)
    with pytest.raises(SweepStopped, match="while the hot load was held warm") as stopped:
        run_sweep(lab, small_plan(), conn, progress=False, retries=3)
    assert calls["n"] == 3  # tripped in that wait, never retried
    assert not lab.source.output() and heater_is_off(lab)
    run = open_sweep_run(conn, stopped.value.run_id)
    assert sorted(run.completed_points()) == [0, 1]

    monkeypatch.setattr(lab.readout, "settle", settle)
    lab.source.part("fridge").set_simulated_temperature(lab.source._mixing_chamber_channel, 0.01)
    outcome = run_sweep(lab, None, conn, resume_run_id=run.run_id, progress=False)
    assert outcome.points_measured == [2, 3]


def test_an_unreadable_fridge_while_the_load_is_held_warm_trips_the_interlock(lab, conn, monkeypatch):
    settle, calls = lab.readout.settle, {"n": 0}

    def thermometer_lost(*args, **kwargs):
        raise OSError("fridge thermometer not answering")

    def losing_the_thermometer_in_the_second_wait(seconds):
        calls["n"] += 1
        if calls["n"] == 2:
            monkeypatch.setattr(lab.source, "mixing_chamber_temperature", thermometer_lost)
        settle(seconds)

    monkeypatch.setattr(lab.readout, "settle", losing_the_thermometer_in_the_second_wait)
    with pytest.raises(SweepStopped, match="could not read the mixing chamber") as stopped:
        run_sweep(lab, small_plan(), conn, progress=False, retries=3)
    assert calls["n"] == 2  # not retried
    assert not lab.source.output() and heater_is_off(lab)
    assert sorted(open_sweep_run(conn, stopped.value.run_id).completed_points()) == [0]


def test_a_point_measured_while_the_fridge_warmed_is_not_saved(lab, conn, monkeypatch):
    measure, calls = lab.readout.measure, {"n": 0}

    def warming_during_the_second_measurement(settings, shots):
        calls["n"] += 1
        counts = measure(settings, shots)
        if calls["n"] == 2:
            warm_the_fridge(lab)
        return counts

    monkeypatch.setattr(lab.readout, "measure", warming_during_the_second_measurement)
    with pytest.raises(SweepStopped, match="mixing chamber at 1 K rose above") as stopped:
        run_sweep(lab, small_plan(), conn, progress=False)
    assert sorted(open_sweep_run(conn, stopped.value.run_id).completed_points()) == [0]
    assert not lab.source.output() and heater_is_off(lab)


# --- resuming on the station the run was measured on ------------------------------------------------

def interrupted_run(lab: LabStation, conn, plan: SweepPlan) -> int:
    """Id of a run of ``plan`` stopped after its first two points."""
    def interrupt_after_second(index, run):
        if index == 1:
            raise KeyboardInterrupt

    with pytest.raises(SweepStopped) as stopped:
        run_sweep(lab, plan, conn, progress=False, on_point=interrupt_after_second)
    return stopped.value.run_id


def changed_station(folder):
    """The simulated station with a different readout error on qubit 1."""
    from thermalink.station_configs import station_config_path

    text = station_config_path("simulated").read_text()
    path = folder / "changed.yaml"
    path.write_text(text.replace("assignment_errors: [0.02, 0.05,", "assignment_errors: [0.03, 0.05,"))
    return path


def reopened(config=None) -> LabStation:
    """The station of ``config`` (default: the simulated one), after closing every open instrument."""
    from qcodes.instrument import Instrument

    Instrument.close_all()
    return LabStation.from_config(config)


def test_a_new_run_stores_the_station_it_is_measured_on(lab, conn):
    from thermalink.experiments.station_fingerprint import STATION_KEY, StationFingerprint, station_fingerprint
    from thermalink.station_configs import station_config_path

    run = open_sweep_run(conn, run_sweep(lab, small_plan(), conn, progress=False).run_id)
    stored = StationFingerprint.from_json(run.dataset.metadata[STATION_KEY])
    assert stored == station_fingerprint(station_config_path("simulated")) == lab.fingerprint


def test_resume_on_a_changed_station_is_refused_before_the_lab_is_asked_anything(lab, conn, tmp_path):
    from thermalink.experiments.station_fingerprint import StationChangedError

    plan = small_plan()
    run_id = interrupted_run(lab, conn, plan)
    other = reopened(changed_station(tmp_path))
    asked = []
    for method in ("validate_plan", "apply", "measure", "readback", "lab_link", "safe_state"):
        setattr(other, method, lambda *args, _name=method, **kwargs: asked.append(_name))
    with pytest.raises(StationChangedError, match=r"measured on station file .*simulated.yaml \(sha256 [0-9a-f]{12}\), "
                                                  r"but the current station file .*changed.yaml \(sha256 "):
        run_sweep(other, None, conn, resume_run_id=run_id, progress=False)
    assert asked == []
    untouched = open_sweep_run(conn, run_id)
    assert untouched.completed_points() == [0, 1]
    assert untouched.dataset.metadata["thermalink_status"] == "interrupted"
    assert "thermalink_station_changes" not in untouched.dataset.metadata
    assert run_sweep(reopened(), None, conn, resume_run_id=run_id, progress=False).points_measured == [2, 3]


def test_allowed_station_change_resumes_and_records_both_stations_and_the_first_point_on_the_new_one(
        lab, conn, tmp_path):
    import json

    run_id = interrupted_run(lab, conn, small_plan())
    other = reopened(changed_station(tmp_path))
    outcome = run_sweep(other, None, conn, resume_run_id=run_id, progress=False, allow_station_change=True)
    assert outcome.points_measured == [2, 3]
    changes = json.loads(open_sweep_run(conn, run_id).dataset.metadata["thermalink_station_changes"])
    assert changes == [{"from_point": 2, "stored": vars(lab.fingerprint), "current": vars(other.fingerprint)}]
    assert changes[0]["stored"]["sha256"] != changes[0]["current"]["sha256"]


def test_after_an_allowed_change_the_run_expects_the_new_station(lab, conn, tmp_path):
    from thermalink.experiments.station_fingerprint import StationChangedError

    plan = small_plan()
    run_id = interrupted_run(lab, conn, plan)
    other = reopened(changed_station(tmp_path))

    def interrupt_at_third(index, run):
        if index == 2:
            raise KeyboardInterrupt

    with pytest.raises(SweepStopped):
        run_sweep(other, None, conn, resume_run_id=run_id, progress=False, allow_station_change=True,
                  on_point=interrupt_at_third)
    with pytest.raises(StationChangedError, match="measured on station file .*changed.yaml"):
        run_sweep(reopened(), None, conn, resume_run_id=run_id, progress=False)
    other = reopened(changed_station(tmp_path))
    assert run_sweep(other, None, conn, resume_run_id=run_id, progress=False).points_measured == [3]


def test_a_run_from_before_station_fingerprints_resumes_with_a_warning(lab, conn, caplog, monkeypatch):
    import json

    from legacy_runs import create_legacy_run

    from thermalink.experiments import sweep_runner

    fingerprint, lab.fingerprint = lab.fingerprint, None  # how runs were created before fingerprints
    with monkeypatch.context() as old_code:
        old_code.setattr(sweep_runner, "create_sweep_run", create_legacy_run)
        run_id = interrupted_run(lab, conn, small_plan())
    assert "thermalink_station" not in open_sweep_run(conn, run_id).dataset.metadata
    lab.fingerprint = fingerprint
    with caplog.at_level("WARNING"):
        outcome = run_sweep(lab, None, conn, resume_run_id=run_id, progress=False)
    assert outcome.points_measured == [2, 3]
    assert f"run {run_id} has no station fingerprint" in caplog.text
    changes = json.loads(open_sweep_run(conn, run_id).dataset.metadata["thermalink_station_changes"])
    assert changes == [{"from_point": 2, "stored": None, "current": vars(fingerprint)}]


def test_a_station_change_is_recorded_only_once_a_point_is_measured_on_the_new_station(lab, conn, tmp_path,
                                                                                       monkeypatch):
    from thermalink.experiments.station_fingerprint import STATION_CHANGES_KEY

    run_id = interrupted_run(lab, conn, small_plan())
    changed = reopened(changed_station(tmp_path))

    def lost(point):
        raise KeyboardInterrupt

    monkeypatch.setattr(changed, "apply", lost)
    with pytest.raises(SweepStopped):
        run_sweep(changed, None, conn, resume_run_id=run_id, progress=False, allow_station_change=True)
    assert STATION_CHANGES_KEY not in open_sweep_run(conn, run_id).dataset.metadata
    outcome = run_sweep(reopened(), None, conn, resume_run_id=run_id, progress=False)  # the original station
    assert outcome.points_measured == [2, 3]


@pytest.mark.parametrize("settle_factor, consistent", [(0.02, [True, False]), (5.0, [True, True])])
def test_with_transients_a_too_short_settle_shows_as_disagreement_with_the_twin(lab, conn, settle_factor,
                                                                                consistent):
    from thermalink.experiments.sweep_analysis import analyse_run
    from thermalink.experiments.sweep_storage import load_analysis

    lab.readout.transients(True)
    plan = bandwidth_sweep([1e8, 1e4], temperature_K=40.0, attenuation_dB=0.0, shots=2000, bootstrap=20, seed=5,
                           settle_factor=settle_factor)
    run = open_sweep_run(conn, run_sweep(lab, plan, conn, progress=False).run_id)
    analyse_run(conn, run)
    assert load_analysis(conn, run)["consistent"].values.astype(bool).tolist() == consistent


def test_the_run_snapshot_shows_the_first_point_as_set_not_the_station_before_it(lab, conn):
    lab.source.attenuation(20.0)  # as left by an earlier run
    plan = bandwidth_sweep([1e4, 1e5], temperature_K=30.0, attenuation_dB=0.0, shots=100, bootstrap=20, seed=7,
                           settle_s=0.0)

    def attenuation_in_snapshot(run) -> float:
        return run.dataset.snapshot["station"]["instruments"]["source"]["parameters"]["attenuation"]["value"]

    def interrupt(index, run):
        raise KeyboardInterrupt

    with pytest.raises(SweepStopped) as stopped:
        run_sweep(lab, plan, conn, progress=False, on_point=interrupt)
    run = open_sweep_run(conn, stopped.value.run_id)
    assert attenuation_in_snapshot(run) == 0.0  # 20 dB when the run was created
    assert run.dataset.metadata["thermalink_snapshot_taken"] == "after setting point 0"
    lab.source.attenuation(20.0)
    run_sweep(lab, None, conn, resume_run_id=run.run_id, progress=False)  # a resumed run keeps its snapshot
    assert attenuation_in_snapshot(open_sweep_run(conn, run.run_id)) == 0.0


def test_the_qubits_see_the_settled_hot_load_whatever_its_history(lab):
    """The virtual qubits see the controlled temperature once the reading is within tolerance, the
    reading otherwise; the read-back itself is untouched (settle and safety checks use it)."""
    source = lab.source
    source.output(True)
    source.temperature(20.0)
    reading = float(source.temperature())
    assert reading != 20.0 and abs(reading - 20.0) <= source.temperature_tolerance()
    assert source.settled_temperature() == 20.0
    lab.readout.lab_link(source)  # the twin's link takes the settled occupation
    assert lab.readout.lab_link(source).source_occupation == source.settled_occupation() != source.occupation()
    source.part("hot_load").set_simulated_temperature("A", 20.0 + 3 * source.temperature_tolerance())
    assert source.settled_temperature() == float(source.temperature()) != 20.0
    source.output(False)
    assert source.settled_occupation() == 0.0
    source.temperature(0.0)
