"""What the live analysis leaves behind: the live figure rewritten after each point, and the MLE's
convergence flag and likelihood gap stored with the analysis (older analyses load without them)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from thermalink.analysis.tomography import MLE_TOL
from thermalink.experiments import experiment_session, sweep_storage
from thermalink.experiments.experiment_session import start_run
from thermalink.experiments.sweep_plan import bandwidth_sweep
from thermalink.experiments.sweep_report import live_figure_path
from thermalink.experiments.sweep_storage import MLE_SCALARS, database, load_analysis, open_sweep_run, save_analysis

PLAN = bandwidth_sweep([1e4, 1e5, 1e6], temperature_K=30.0, attenuation_dB=0.0, shots=200, bootstrap=20, seed=5)


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """A 3-point run with ``out``; each live-figure write recorded as (points shown, PNG digest)."""
    folder = tmp_path_factory.mktemp("live")
    writes = []
    plot_live = experiment_session.plot_live

    def record(results, plan, run_id, out):
        path = plot_live(results, plan, run_id, out)
        writes.append((sorted(results), hashlib.sha256(path.read_bytes()).hexdigest(), path))
        return path

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(experiment_session, "plot_live", record)
        patch.setattr(experiment_session, "LIVE_FIGURE_SHARE", 1.0)  # no wall-time limit: every point
        result = start_run(PLAN, db=folder / "live.db", out=folder, calibration_shots=1000, progress=False, echo=None)
    return folder, result, writes


def test_a_live_figure_slower_than_the_points_is_redrawn_within_its_share_and_after_the_last(tmp_path, monkeypatch):
    shown = []
    plot_live = experiment_session.plot_live
    monkeypatch.setattr(experiment_session, "plot_live",
                        lambda results, *args: (shown.append(sorted(results)), plot_live(results, *args))[1])
    monkeypatch.setattr(experiment_session, "LIVE_FIGURE_SHARE", 1e-9)  # drawing is never worth its time...
    start_run(PLAN, db=tmp_path / "fast.db", out=tmp_path, calibrate=False, progress=False, echo=None)
    assert shown == [[0], [0, 1, 2]]  # ... but the first point and the final state are always drawn


def test_the_live_figure_is_rewritten_after_each_point(live_run):
    folder, result, writes = live_run
    path = live_figure_path(folder, result.run_id)
    assert path.name == f"run{result.run_id}_live.png"
    assert [points for points, _, _ in writes] == [[0], [0, 1], [0, 1, 2]]  # one write per point
    assert all(written == path for _, _, written in writes)
    digests = [digest for _, digest, _ in writes]
    assert len(set(digests)) == 3  # the file changed after every point
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digests[-1]
    assert not list(folder.glob("*.part"))  # written whole, nothing left over


def test_no_live_figure_without_an_output_folder(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(experiment_session, "plot_live", lambda *args: calls.append(args))
    plan = bandwidth_sweep([1e5], temperature_K=30.0, attenuation_dB=0.0, shots=200, bootstrap=20, seed=5)
    start_run(plan, db=tmp_path / "quiet.db", calibrate=False, progress=False, echo=None)
    assert calls == []


def test_the_stored_analysis_has_the_mle_convergence_and_likelihood_gap_per_point(live_run):
    folder, result, _ = live_run
    stored = load_analysis(database(folder / "live.db"), open_sweep_run(database(folder / "live.db"), result.run_id))
    assert stored["point"].values.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(stored["mle_converged"].values, 1.0)
    gap = stored["mle_likelihood_gap"].values
    assert np.all(np.isfinite(gap)) and np.all(gap >= 0) and np.all(gap <= MLE_TOL)


def test_an_analysis_stored_before_the_mle_scalars_still_loads(live_run, monkeypatch):
    folder, result, _ = live_run
    conn = database(folder / "live.db")
    run = open_sweep_run(conn, result.run_id)
    results = [{**{name: float(result.analysis[name].sel(point=i)) for name in sweep_storage.ANALYSIS_SCALARS},
                "point_index": i, "rho": result.analysis["rho"].sel(point=i).values,
                "twin_rho": result.analysis["twin_rho"].sel(point=i).values} for i in (0, 1, 2)]
    older = tuple(name for name in sweep_storage.ANALYSIS_SCALARS if name not in MLE_SCALARS)
    with monkeypatch.context() as before:  # the analysis layout before the MLE scalars existed
        before.setattr(sweep_storage, "ANALYSIS_SCALARS", older)
        save_analysis(conn, run, results, method="mle")
    loaded = load_analysis(conn, open_sweep_run(conn, result.run_id))
    assert loaded.attrs["analysis_run_id"] != result.analysis.attrs["analysis_run_id"]  # the older-layout one
    assert not set(MLE_SCALARS) & set(loaded.data_vars)
    np.testing.assert_allclose(loaded["concurrence"].values, result.analysis["concurrence"].values)
