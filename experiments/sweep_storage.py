"""The QCoDeS SQLite dataset a sweep writes, and its analysis beside it.

One raw run per sweep (experiment ``thermalink``): a row per point with ``point_index``, the
read-back source settings (``bandwidth`` Hz, ``temperature`` K, ``attenuation`` dB,
``center_frequency`` Hz, ``occupation``), ``mxc_temperature`` (K), ``settle_time`` (s), the
lab description of the point for the twin (``lab_link``, JSON) and the tomography ``counts``
(array over ``setting_index`` x ``outcome_index``). Run metadata: the sweep plan (JSON), the
readout assignment matrices, the run status, the station snapshot and the station fingerprint
(see :mod:`.station_fingerprint`).

Rows are committed one per point, so a crash loses at most the point in flight; a run that is not
completed can be reopened and continued (:func:`open_sweep_run`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from qcodes.dataset import load_by_id, load_or_create_experiment, new_data_set
from qcodes.dataset.descriptions.dependencies import InterDependencies_
from qcodes.parameters import ParamSpecBase
from qcodes.dataset.sqlite.database import connect

from thermalink.simulators.conventions import BASIS_LABELS, OUTCOMES

from .sweep_plan import SOURCE_SETTINGS, SweepPlan

EXPERIMENT_NAME = "thermalink"
PLAN_KEY = "thermalink_plan"
STATUS_KEY = "thermalink_status"
CALIBRATION_KEY = "thermalink_readout_calibration"
ASSIGNMENT_KEY = "thermalink_assignment"
ANALYSIS_LINK_KEY = "thermalink_analysis_run_id"
RAW_LINK_KEY = "thermalink_raw_run_id"

_POINT_SCALARS = {  # name: (label, unit)
    **{name: (name.replace("_", " "), unit) for name, unit in SOURCE_SETTINGS.items()},
    "occupation": ("source occupation at the filter", ""),
    "mxc_temperature": ("mixing-chamber temperature", "K"),
    "settle_time": ("settle time", "s"),
}

#: Per-point analysis results (name: unit); each figure has ``_low``/``_high`` interval bounds.
ANALYSIS_FIGURES = ("concurrence", "negativity", "singlet_fidelity", "bell_fidelity", "purity", "twin_fidelity")
ANALYSIS_SCALARS = (
    *ANALYSIS_FIGURES,
    *(f"{name}_{end}" for name in ANALYSIS_FIGURES for end in ("low", "high")),
    "twin_concurrence", "twin_singlet_fidelity", "gof_statistic", "gof_p_value", "consistent",
)


def database(path: str | Path):
    """Connection to the (created if needed) QCoDeS SQLite database at ``path``."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise ValueError(f"database folder {path.parent} does not exist")
    return connect(str(path))


def _raw_interdependencies() -> InterDependencies_:
    index = ParamSpecBase("point_index", "numeric", label="point", unit="")
    setting = ParamSpecBase("setting_index", "array", label="tomography setting", unit="")
    outcome = ParamSpecBase("outcome_index", "array", label="outcome", unit="")
    counts = ParamSpecBase("counts", "array", label="tomography counts", unit="")
    scalars = {ParamSpecBase(name, "numeric", label=label, unit=unit): (index,) for name, (label, unit) in _POINT_SCALARS.items()}
    lab = ParamSpecBase("lab_link", "text", label="lab description for the twin", unit="")
    return InterDependencies_(dependencies={counts: (index, setting, outcome), lab: (index,), **scalars})


@dataclass
class SweepRun:
    """An open raw run: the QCoDeS dataset and the plan it follows."""

    dataset: object
    plan: SweepPlan

    @property
    def run_id(self) -> int:
        return self.dataset.run_id

    def completed_points(self) -> list[int]:
        data = self.dataset.get_parameter_data("settle_time")
        if "settle_time" not in data or not len(data["settle_time"]["point_index"]):
            return []
        return sorted(int(i) for i in data["settle_time"]["point_index"])

    def add_point(self, index: int, readback: dict, counts: np.ndarray, lab_link: dict) -> None:
        n_settings = counts.shape[0]
        setting, outcome = np.meshgrid(np.arange(n_settings), np.arange(4), indexing="ij")
        row = {"point_index": index, "lab_link": json.dumps(lab_link)}
        row.update({name: float(readback.get(name, np.nan)) for name in _POINT_SCALARS})
        row.update({"setting_index": setting, "outcome_index": outcome, "counts": np.asarray(counts, dtype=np.int64)})
        self.dataset.add_results([row])

    def set_status(self, status: str) -> None:
        self.dataset.add_metadata(STATUS_KEY, status)

    def complete(self) -> None:
        self.set_status("completed")
        self.dataset.mark_completed()


def create_sweep_run(conn, plan: SweepPlan, sample: str, snapshot: dict, assignment: np.ndarray,
                     metadata: dict[str, str] | None = None) -> SweepRun:
    """A new raw run, started, with the plan, the assignment matrices and ``metadata`` stored."""
    experiment = load_or_create_experiment(EXPERIMENT_NAME, sample_name=sample, conn=conn)
    dataset = new_data_set(f"{plan.kind}_sweep", exp_id=experiment.exp_id, conn=conn)
    dataset.set_interdependencies(_raw_interdependencies())
    dataset.add_snapshot(json.dumps({"station": snapshot}, default=str))
    dataset.mark_started()
    dataset.add_metadata(PLAN_KEY, plan.to_json())
    dataset.add_metadata(ASSIGNMENT_KEY, json.dumps(np.asarray(assignment).tolist()))
    dataset.add_metadata(STATUS_KEY, "running")
    for key, value in (metadata or {}).items():
        dataset.add_metadata(key, value)
    return SweepRun(dataset, plan)


def open_sweep_run(conn, run_id: int) -> SweepRun:
    """Reopen a stored raw run (to resume or to analyse it)."""
    try:
        dataset = load_by_id(run_id, conn=conn)
    except (ValueError, NameError, RuntimeError) as error:
        raise ValueError(f"run {run_id} is not in this database ({error})") from None
    if RAW_LINK_KEY in dataset.metadata:
        raise ValueError(f"run {run_id} is the analysis of run {dataset.metadata[RAW_LINK_KEY]}; "
                         f"use run {dataset.metadata[RAW_LINK_KEY]}")
    if PLAN_KEY not in dataset.metadata:
        raise ValueError(f"run {run_id} is not a thermalink sweep (no {PLAN_KEY} metadata)")
    return SweepRun(dataset, SweepPlan.from_json(dataset.metadata[PLAN_KEY]))


def assignment_of(run: SweepRun) -> np.ndarray:
    return np.array(json.loads(run.dataset.metadata[ASSIGNMENT_KEY]))


def load_sweep(run: SweepRun) -> xr.Dataset:
    """The raw run as xarray: ``counts`` over (point, setting, outcome) and per-point settings."""
    data = run.dataset.get_parameter_data()
    if "counts" not in data or not len(data["counts"]["point_index"]):
        raise ValueError(f"run {run.run_id} has no measured points yet (status: "
                         f"{run.dataset.metadata.get(STATUS_KEY, 'unknown')}); resume it first")
    return _sweep_dataset(run, data)


def load_stored_since(run: SweepRun, rows_read: int) -> xr.Dataset:
    """Like :func:`load_sweep`, but only the points stored after the first ``rows_read`` (one row per
    point, in the order they were measured); no points if there are none."""
    return _sweep_dataset(run, run.dataset.get_parameter_data(start=rows_read + 1))


def _sweep_dataset(run: SweepRun, data: dict) -> xr.Dataset:
    """The rows in ``data`` (QCoDeS parameter data) as xarray, ordered by point index."""
    counts_data = data["counts"]
    if not len(counts_data["point_index"]):
        points, counts = np.array([], int), np.zeros((0, len(run.plan.settings), len(OUTCOMES)), np.int64)
    else:
        order = np.argsort(counts_data["point_index"][:, 0, 0])
        points, counts = counts_data["point_index"][order, 0, 0].astype(int), counts_data["counts"][order]
    variables = {"counts": (("point", "setting", "outcome"), counts.astype(np.int64))}
    for name, (label, unit) in _POINT_SCALARS.items():
        column = data[name]
        by_index = dict(zip(column["point_index"].astype(int), column[name]))
        variables[name] = ("point", np.array([by_index[i] for i in points], dtype=float), {"units": unit, "long_name": label})
    lab = data["lab_link"]
    by_index = dict(zip(lab["point_index"].astype(int), lab["lab_link"]))
    variables["lab_link"] = ("point", np.array([str(by_index[i]) for i in points], dtype=object))
    dataset = xr.Dataset(
        variables,
        coords={"point": points, "setting": list(run.plan.settings), "outcome": list(OUTCOMES)},
        attrs={"run_id": run.run_id, "plan": run.plan.to_json(), "status": run.dataset.metadata.get(STATUS_KEY, "")},
    )
    return dataset


def export_netcdf(run: SweepRun, path: str | Path) -> Path:
    """Write the raw run as netCDF (h5netcdf): counts, per-point settings, the assignment matrices
    and the readout calibration, enough to analyse the file on its own."""
    dataset = load_sweep(run)
    dataset["lab_link"] = dataset["lab_link"].astype(str)
    # What the estimator needs beside the counts: the readout errors it folds in.
    dataset["assignment"] = (("qubit", "read", "state"), assignment_of(run))
    dataset["assignment"].attrs["convention"] = "A[qubit][i, j] = P(read i | state j), qubits 1 and 2"
    dataset = dataset.assign_coords(qubit=[1, 2], read=[0, 1], state=[0, 1])
    if CALIBRATION_KEY in run.dataset.metadata:
        dataset.attrs["readout_calibration"] = run.dataset.metadata[CALIBRATION_KEY]
    path = Path(path)
    dataset.to_netcdf(path, engine="h5netcdf")
    return path


# --- analysis beside the raw run ----------------------------------------------------------------

def _analysis_interdependencies() -> InterDependencies_:
    index = ParamSpecBase("point_index", "numeric", label="point", unit="")
    ket = ParamSpecBase("ket", "array", label="ket (gg, ge, eg, ee)", unit="")
    bra = ParamSpecBase("bra", "array", label="bra (gg, ge, eg, ee)", unit="")
    deps = {ParamSpecBase(name, "numeric", label=name.replace("_", " "), unit=""): (index,) for name in ANALYSIS_SCALARS}
    for part in ("rho_real", "rho_imag", "twin_rho_real", "twin_rho_imag"):
        deps[ParamSpecBase(part, "array", label=part.replace("_", " "), unit="")] = (index, ket, bra)
    return InterDependencies_(dependencies=deps)


def save_analysis(conn, raw: SweepRun, results: list[dict], method: str) -> int:
    """Store per-point analysis results as a new run linked both ways to the raw run."""
    sample = raw.dataset.sample_name
    experiment = load_or_create_experiment(EXPERIMENT_NAME, sample_name=sample, conn=conn)
    dataset = new_data_set(f"{raw.plan.kind}_sweep_analysis", exp_id=experiment.exp_id, conn=conn)
    dataset.set_interdependencies(_analysis_interdependencies())
    dataset.mark_started()
    dataset.add_metadata(RAW_LINK_KEY, str(raw.run_id))
    dataset.add_metadata("thermalink_estimator", method)
    ket, bra = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    rows = []
    for result in results:
        row = {"point_index": result["point_index"], "ket": ket, "bra": bra}
        row.update({name: float(result[name]) for name in ANALYSIS_SCALARS})
        row.update({"rho_real": result["rho"].real, "rho_imag": result["rho"].imag})
        row.update({"twin_rho_real": result["twin_rho"].real, "twin_rho_imag": result["twin_rho"].imag})
        rows.append(row)
    if rows:
        dataset.add_results(rows)
    dataset.mark_completed()
    raw.dataset.add_metadata(ANALYSIS_LINK_KEY, str(dataset.run_id))
    return dataset.run_id


def load_analysis(conn, raw: SweepRun) -> xr.Dataset:
    """The latest analysis of a raw run, as xarray over ``point`` (and ``ket``/``bra``)."""
    if ANALYSIS_LINK_KEY not in raw.dataset.metadata:
        raise ValueError(f"run {raw.run_id} has not been analysed yet: run 'thermalink analyze {raw.run_id}'")
    dataset = load_by_id(int(raw.dataset.metadata[ANALYSIS_LINK_KEY]), conn=conn)
    data = dataset.get_parameter_data()
    first = data[ANALYSIS_SCALARS[0]]
    order = np.argsort(first["point_index"])
    points = first["point_index"][order].astype(int)
    variables = {name: ("point", data[name][name][order]) for name in ANALYSIS_SCALARS}
    for part in ("rho", "twin_rho"):
        real, imag = data[f"{part}_real"][f"{part}_real"][order], data[f"{part}_imag"][f"{part}_imag"][order]
        variables[part] = (("point", "ket", "bra"), real + 1j * imag)
    basis = list(BASIS_LABELS)
    return xr.Dataset(
        variables,
        coords={"point": points, "ket": basis, "bra": basis},
        attrs={"analysis_run_id": dataset.run_id, "raw_run_id": raw.run_id,
               "estimator": dataset.metadata.get("thermalink_estimator", "")},
    )
