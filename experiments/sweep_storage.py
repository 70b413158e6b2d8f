"""The QCoDeS SQLite dataset a sweep writes, and its analysis beside it.

One raw run per sweep (experiment ``thermalink``): a row per point with ``point_index``, the
read-back source settings (``bandwidth`` Hz, ``temperature`` K, ``attenuation`` dB,
``center_frequency`` Hz, ``occupation``), ``mxc_temperature`` (K), ``settle_time`` (s), the
lab description of the point for the twin (``lab_link``, JSON) and the tomography ``counts``
(array over ``setting_index`` x ``outcome_index``). Layout (:func:`run_axes`, the one place that
decides): in format 3 the plan's swept settings (:data:`SWEPT_SETTINGS`) are the QCoDeS setpoints,
with their planned values, and every other parameter depends on them (``point_index`` too; the
read-back of a swept setting is ``<name>_readback``; counts over setpoints x setting x outcome);
in older formats every parameter depends on the setpoint ``point_index``. The analysis run has its
raw run's layout. :func:`load_sweep` and :func:`load_analysis` give the same views (dim ``point``)
for every layout. Run metadata: the storage format version, the
sweep plan (JSON), the readout assignment matrices, the run status, the station snapshot and the
station fingerprint (see :mod:`.station_fingerprint`). The snapshot stored at creation is replaced
by one taken after the first stored point was set (written right after that point,
:meth:`SweepRun.replace_snapshot`; :data:`SNAPSHOT_TAKEN_KEY` says so), so it shows the sweep's
settings, not the station's state before the sweep.

A run is created whole or not at all: the dataset and every metadata entry above are written in one
SQLite transaction (:func:`create_sweep_run`), so a process killed meanwhile leaves no run behind.
Format versions (:data:`FORMAT_KEY`): 3 = as 2, on the swept settings (above); 2 = created in one transaction, the station entry always
present (``null`` for a station built in Python rather than from a file); a run without a version
was stored entry by entry by older code (version 1, from before or after station fingerprints),
and counts as created only if it holds its station entry (the last one that code wrote) or a
measured point (:meth:`SweepRun.check_resumable`).

An analysis run links to its raw run with a QCoDeS parent-dataset link (edge type
:data:`ANALYSIS_EDGE`, GUIDs), and the raw run names its latest analysis by GUID
(:data:`ANALYSIS_GUID_KEY`): both survive ``qcodes.dataset.extract_runs_into_db``, where run numbers
change. Runs analysed before hold run-number links (:data:`ANALYSIS_LINK_KEY`,
:data:`RAW_LINK_KEY`); they are read as a fallback.

Each analysis run holds per point the read-back settings (bandwidth, temperature, attenuation,
occupation) beside every result, and a copy of the raw run's station snapshot (:func:`save_analysis`).
Export goes through QCoDeS: a completed raw or analysis run is exported as the user's QCoDeS config
asks (``dataset.export_automatic``, :func:`export_if_configured`); ``thermalink report`` writes
``DataSet.export("netcdf")`` of both runs (:func:`export_qcodes`) and one file with the counts, the
assignment matrices and the results on thermalink's axes (:func:`export_netcdf`).

Rows are committed one per point, so a crash loses at most the point in flight; a run that is not
completed can be reopened and continued (:func:`open_sweep_run`). Every metadata read goes through
:attr:`SweepRun.metadata`, which names the run and the missing entry (:class:`StoredRunError`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from qcodes.dataset import load_by_guid, load_by_id, load_or_create_experiment, new_data_set
from qcodes.dataset.linked_datasets.links import Link
from qcodes.dataset.descriptions.dependencies import InterDependencies_
from qcodes.dataset.export_config import get_data_export_automatic
from qcodes.parameters import ParamSpecBase
from qcodes.dataset.sqlite.connection import atomic
from qcodes.dataset.sqlite.database import connect

from thermalink.simulators.conventions import BASIS_LABELS, OUTCOMES
from thermalink.simulators.errors import InputError

from .station_fingerprint import STATION_KEY
from .sweep_plan import SOURCE_SETTINGS, SweepPlan

_LOG = logging.getLogger(__name__)

EXPERIMENT_NAME = "thermalink"
FORMAT_KEY = "thermalink_format"
#: Storage format of the runs this code creates (see the module docstring).
FORMAT_VERSION = 3
#: The settings a plan of each kind sweeps: the QCoDeS setpoints of a format-3 run (planned values).
SWEPT_SETTINGS = {"bandwidth": ("bandwidth",), "temperature": ("temperature",),
                  "bandwidth_temperature": ("bandwidth", "temperature")}
PLAN_KEY = "thermalink_plan"
STATUS_KEY = "thermalink_status"
CALIBRATION_KEY = "thermalink_readout_calibration"
ASSIGNMENT_KEY = "thermalink_assignment"
#: Run-number links of runs analysed before the GUID links (read as a fallback only): they point at
#: the wrong run once the runs are copied to another database.
ANALYSIS_LINK_KEY = "thermalink_analysis_run_id"
RAW_LINK_KEY = "thermalink_raw_run_id"
#: When the stored station snapshot was taken: "after setting point N" (absent: at run creation).
SNAPSHOT_TAKEN_KEY = "thermalink_snapshot_taken"
#: GUID of a raw run's latest analysis (the analysis links back with a QCoDeS parent-dataset link).
ANALYSIS_GUID_KEY = "thermalink_analysis_guid"
#: Edge type of the QCoDeS link from an analysis run (head) to its raw run (tail).
ANALYSIS_EDGE = "thermalink_analysis"
RAW_GUID_KEY = "thermalink_raw_guid"
CONFIDENCE_KEY = "thermalink_certification_confidence"
SIGNIFICANCE_KEY = "thermalink_significance"

#: What each metadata entry holds, for messages about a run that lacks one.
ENTRY_MEANINGS = {
    FORMAT_KEY: "the storage format version",
    PLAN_KEY: "the sweep plan",
    ASSIGNMENT_KEY: "the readout assignment matrices",
    STATUS_KEY: "the run status",
    CALIBRATION_KEY: "the readout calibration",
    STATION_KEY: "the station fingerprint",
    ANALYSIS_LINK_KEY: "the id of its analysis run",
    ANALYSIS_GUID_KEY: "the GUID of its analysis run",
}

_POINT_SCALARS = {  # name: (label, unit)
    **{name: (name.replace("_", " "), unit) for name, unit in SOURCE_SETTINGS.items()},
    "occupation": ("source occupation at the filter", ""),
    "mxc_temperature": ("mixing-chamber temperature", "K"),
    "settle_time": ("settle time", "s"),
}

#: Per-point analysis results (name: unit); each figure has ``_low``/``_high`` interval bounds.
ANALYSIS_FIGURES = ("concurrence", "negativity", "singlet_fidelity", "bell_fidelity", "purity", "twin_fidelity")
#: One-sided lower confidence bounds at CERTIFICATION_CONFIDENCE (``thermalink.analysis.lower_confidence_bounds``).
CERTIFICATION_CONFIDENCE = 0.95
CERTIFICATION_SCALARS = ("bell_fidelity_lower_bound", "singlet_fidelity_lower_bound", "concurrence_lower_bound")
#: The point estimate's MLE: converged (1.0/0.0) and its certified log-likelihood gap to the maximum
#: (nats; ``thermalink.analysis.TomographyResult``). Analyses stored before them load without them.
MLE_SCALARS = ("mle_converged", "mle_likelihood_gap")
#: Read-back settings of each point, stored with its analysis (name: (label, unit)).
ANALYSIS_SETTINGS = {name: _POINT_SCALARS[name] for name in ("bandwidth", "temperature", "attenuation", "occupation")}
ANALYSIS_SCALARS = (
    *ANALYSIS_FIGURES,
    *(f"{name}_{end}" for name in ANALYSIS_FIGURES for end in ("low", "high")),
    "twin_concurrence", "twin_singlet_fidelity", "gof_statistic", "gof_p_value", "consistent",
    *CERTIFICATION_SCALARS,
    *MLE_SCALARS,
)


class StoredRunError(InputError):
    """A stored run cannot be used as asked (not there, not created completely, an entry missing)."""


def database(path: str | Path, *, create: bool = True):
    """Connection to the QCoDeS SQLite database at ``path`` (created if needed, unless not ``create``)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError(f"database folder {path.parent} does not exist")
    if not create and not path.is_file():
        raise InputError(f"database {path} does not exist")
    return connect(str(path))


@contextmanager
def one_transaction(conn):
    """The QCoDeS writes inside are one SQLite transaction: committed together at the end, or (on
    any exception, or a killed process) not at all. Exceptions come out as raised, not wrapped."""
    try:
        with atomic(conn):  # QCoDeS' own writes open nested atomic() blocks, which join this one
            yield conn
    except RuntimeError as error:
        if str(error) == "Rolling back due to unhandled exception" and error.__cause__ is not None:
            raise error.__cause__ from None  # atomic() rolled back and wrapped it
        raise
    except BaseException:  # KeyboardInterrupt and the like pass atomic() without its rollback
        if conn.in_transaction:
            conn.rollback()
        raise


class RunMetadata(Mapping):
    """Read-only view of a run's metadata: ``metadata[key]`` of a missing entry raises
    :class:`StoredRunError` naming the run and the entry (never a bare ``KeyError``)."""

    def __init__(self, run_id: int, entries: Mapping):
        self.run_id = run_id
        self._entries = entries

    def __getitem__(self, key: str):
        try:
            return self._entries[key]
        except KeyError:
            meaning = ENTRY_MEANINGS.get(key, "")
            raise StoredRunError(
                f"run {self.run_id} has no {key!r} metadata entry{f' ({meaning})' if meaning else ''}; "
                f"it holds {sorted(self._entries)}") from None

    def __contains__(self, key) -> bool:
        return key in self._entries

    def get(self, key: str, default=None):
        return self._entries.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def run_axes(kind: str, format_version: int) -> tuple[str, ...]:
    """The layout of a run (raw and analysis), decided here only: the swept settings of a plan of
    ``kind`` (:data:`SWEPT_SETTINGS`) are the QCoDeS setpoints of a format >= 3 run; ``()`` for older
    runs, whose one setpoint is ``point_index``."""
    return SWEPT_SETTINGS[kind] if format_version >= 3 else ()


def stored_name(name: str, axes: tuple[str, ...]) -> str:
    """Column holding the read-back ``name``: ``<name>_readback`` if ``name`` is a setpoint."""
    return f"{name}_readback" if name in axes else name


def _setpoints(axes: tuple[str, ...]) -> tuple[tuple[ParamSpecBase, ...], ParamSpecBase]:
    """The setpoints of a run of these ``axes`` (:func:`run_axes`), and its ``point_index``."""
    index = ParamSpecBase("point_index", "numeric", label="point", unit="")
    if not axes:
        return (index,), index
    setpoints = tuple(ParamSpecBase(name, "numeric", label=_POINT_SCALARS[name][0], unit=_POINT_SCALARS[name][1])
                      for name in axes)
    return setpoints, index


def _raw_interdependencies(axes: tuple[str, ...] = ()) -> InterDependencies_:
    setpoints, index = _setpoints(axes)
    setting = ParamSpecBase("setting_index", "array", label="tomography setting", unit="")
    outcome = ParamSpecBase("outcome_index", "array", label="outcome", unit="")
    counts = ParamSpecBase("counts", "array", label="tomography counts", unit="")
    scalars = {ParamSpecBase(stored_name(name, axes), "numeric", label=label, unit=unit): setpoints
               for name, (label, unit) in _POINT_SCALARS.items()}
    if axes:
        scalars[index] = setpoints
    lab = ParamSpecBase("lab_link", "text", label="lab description for the twin", unit="")
    return InterDependencies_(dependencies={counts: (*setpoints, setting, outcome), lab: setpoints, **scalars})


def _row_points(data: dict, name: str) -> np.ndarray:
    """Point index of each value of ``data[name]`` (QCoDeS parameter data): its own ``point_index``
    setpoint (format <= 2), else the ``point_index`` column, row by row (every row holds every column)."""
    column = data[name]
    points = column["point_index"] if "point_index" in column and name != "point_index" else data["point_index"]["point_index"]
    if not len(points):
        return np.array([], int)
    return np.asarray(points).reshape(len(points), -1)[:, 0].astype(int)


@dataclass
class SweepRun:
    """An open raw run: the QCoDeS dataset and the plan it follows."""

    dataset: object
    plan: SweepPlan

    @property
    def run_id(self) -> int:
        return self.dataset.run_id

    @property
    def metadata(self) -> RunMetadata:
        """The run's metadata; every read goes through here (see :class:`RunMetadata`)."""
        return RunMetadata(self.run_id, self.dataset.metadata)

    @property
    def format_version(self) -> int:
        """Storage format the run was created with (1: before format versions were stored)."""
        return int(self.metadata.get(FORMAT_KEY, 1))

    @property
    def axes(self) -> tuple[str, ...]:
        """The run's setpoints beside ``point_index`` (:func:`run_axes`)."""
        return run_axes(self.plan.kind, self.format_version)

    def check_resumable(self) -> None:
        """:class:`StoredRunError` if the run was not created completely (only possible for a
        version-1 run: it was stored entry by entry, its station entry last, before any point)."""
        if self.format_version >= 2 or STATION_KEY in self.metadata or self.completed_points():
            return
        raise StoredRunError(
            f"run {self.run_id} was not created completely (stored by an older thermalink that was stopped "
            f"while writing the run's metadata: it has no measured point and no {STATION_KEY!r} entry); it is "
            f"never resumed. Start the sweep anew: 'thermalink run' with the options it was started with "
            f"(its plan: {self.metadata[PLAN_KEY]}); the half-made run stays in the database, unused")

    def completed_points(self) -> list[int]:
        column = "point_index" if self.axes else "settle_time"
        data = self.dataset.get_parameter_data(column)
        if column not in data or not len(data[column]["point_index"]):
            return []
        return sorted(int(i) for i in data[column]["point_index"])

    def add_point(self, index: int, readback: dict, counts: np.ndarray, lab_link: dict) -> None:
        n_settings = counts.shape[0]
        setting, outcome = np.meshgrid(np.arange(n_settings), np.arange(4), indexing="ij")
        axes = self.axes
        row = {"point_index": index, "lab_link": json.dumps(lab_link)}
        row.update({name: float(self.plan.points[index][name]) for name in axes})  # planned: the setpoints
        row.update({stored_name(name, axes): float(readback.get(name, np.nan)) for name in _POINT_SCALARS})
        row.update({"setting_index": setting, "outcome_index": outcome, "counts": np.asarray(counts, dtype=np.int64)})
        self.dataset.add_results([row])

    def replace_snapshot(self, snapshot: dict, after_point: int) -> None:
        """Store the station snapshot taken after setting point ``after_point`` in place of the one
        taken at creation (which shows the station before the sweep touched it)."""
        self.dataset.add_snapshot(json.dumps({"station": snapshot}, default=str), overwrite=True)
        self.dataset.add_metadata(SNAPSHOT_TAKEN_KEY, f"after setting point {after_point}")

    def set_status(self, status: str) -> None:
        """Record the run's status. An interrupt that landed inside a database write (the point in
        flight) leaves that write's transaction open (QCoDeS rolls back only on an ``Exception``): it
        is rolled back first, so the point in flight is not stored, and is measured on resume."""
        conn = self.dataset.conn
        if conn.in_transaction and not conn.atomic_in_progress:
            _LOG.warning("run %d: a database write was interrupted; the point in flight is discarded", self.run_id)
            conn.rollback()
        self.dataset.add_metadata(STATUS_KEY, status)

    def complete(self) -> None:
        self.set_status("completed")
        self.dataset.mark_completed()
        export_if_configured(self.dataset)


def create_sweep_run(conn, plan: SweepPlan, sample: str, snapshot: dict, assignment: np.ndarray,
                     metadata: dict[str, str] | None = None, *, station: str = "null") -> SweepRun:
    """A new raw run, started, with the plan, the assignment matrices, the station fingerprint
    (``station``: JSON, ``null`` if the station was not built from a file) and ``metadata`` stored:
    all in one SQLite transaction, so the run exists whole or not at all."""
    entries = {FORMAT_KEY: str(FORMAT_VERSION), PLAN_KEY: plan.to_json(),
               ASSIGNMENT_KEY: json.dumps(np.asarray(assignment).tolist()), STATUS_KEY: "running",
               STATION_KEY: station, **(metadata or {})}
    with one_transaction(conn):
        experiment = load_or_create_experiment(EXPERIMENT_NAME, sample_name=sample, conn=conn)
        dataset = new_data_set(f"{plan.kind}_sweep", exp_id=experiment.exp_id, conn=conn)
        dataset.set_interdependencies(_raw_interdependencies(run_axes(plan.kind, FORMAT_VERSION)))
        dataset.add_snapshot(json.dumps({"station": snapshot}, default=str))
        dataset.mark_started()
        for key, value in entries.items():
            dataset.add_metadata(key, value)
    return SweepRun(dataset, plan)


def open_sweep_run(conn, run_id: int, *, resume: bool = False) -> SweepRun:
    """Reopen a stored raw run to analyse it, or (``resume``) to continue it: then
    :class:`StoredRunError` if it was not created completely (:meth:`SweepRun.check_resumable`)."""
    try:
        dataset = load_by_id(run_id, conn=conn)
    except (ValueError, NameError, RuntimeError) as error:
        raise StoredRunError(f"run {run_id} is not in this database ({error})") from None
    metadata = RunMetadata(run_id, dataset.metadata)
    if is_analysis_run(dataset):
        raw_id = _raw_run_id(conn, dataset)
        raise StoredRunError(f"run {run_id} is the analysis of run {raw_id}; use run {raw_id}")
    if PLAN_KEY not in metadata:
        raise StoredRunError(f"run {run_id} is not a thermalink sweep (no {PLAN_KEY!r} metadata entry: another "
                             "program's run, or one whose creation was stopped before its plan was stored)")
    run = SweepRun(dataset, SweepPlan.from_json(metadata[PLAN_KEY]))
    if resume:
        run.check_resumable()
    return run


def is_analysis_run(dataset) -> bool:
    """Whether a QCoDeS dataset is a thermalink analysis run (GUID link, or the older run-number one)."""
    return RAW_LINK_KEY in dataset.metadata or any(link.edge_type == ANALYSIS_EDGE for link in dataset.parent_dataset_links)


def _raw_run_id(conn, analysis) -> int | str:
    """Run number, in this database, of the raw run an analysis run belongs to (by GUID; the stored
    run number for older analyses; ``"<guid> (not in this database)"`` if it is not here)."""
    for link in analysis.parent_dataset_links:
        if link.edge_type == ANALYSIS_EDGE:
            try:
                return load_by_guid(link.tail, conn=conn).run_id
            except (NameError, ValueError, RuntimeError):
                return f"{link.tail} (not in this database)"
    return int(analysis.metadata[RAW_LINK_KEY])


def is_analysed(run: SweepRun) -> bool:
    """Whether the raw run has an analysis linked to it (by GUID, or by run number for older runs)."""
    return ANALYSIS_GUID_KEY in run.metadata or ANALYSIS_LINK_KEY in run.metadata


def analysis_dataset(conn, raw: SweepRun):
    """The QCoDeS dataset of the raw run's latest analysis, found by its GUID (by run number for runs
    analysed before GUID links); :class:`StoredRunError` if there is none here."""
    if ANALYSIS_GUID_KEY in raw.metadata:
        guid = raw.metadata[ANALYSIS_GUID_KEY]
        try:
            return load_by_guid(guid, conn=conn)
        except (NameError, ValueError, RuntimeError):
            raise StoredRunError(f"the analysis of run {raw.run_id} (GUID {guid}) is not in this database: copy it "
                                 f"too, or run 'thermalink analyze {raw.run_id}'") from None
    if ANALYSIS_LINK_KEY in raw.metadata:
        return load_by_id(int(raw.metadata[ANALYSIS_LINK_KEY]), conn=conn)
    raise StoredRunError(f"run {raw.run_id} has not been analysed yet: run 'thermalink analyze {raw.run_id}'")


def assignment_of(run: SweepRun) -> np.ndarray:
    return np.array(json.loads(run.metadata[ASSIGNMENT_KEY]))


def load_sweep(run: SweepRun) -> xr.Dataset:
    """The raw run as xarray: ``counts`` over (point, setting, outcome) and per-point settings."""
    data = run.dataset.get_parameter_data()
    if "counts" not in data or not len(data["counts"]["counts"]):
        raise StoredRunError(f"run {run.run_id} has no measured points yet (status: "
                             f"{run.metadata.get(STATUS_KEY, 'unknown')}); resume it first")
    return _sweep_dataset(run, data)


def load_stored_since(run: SweepRun, rows_read: int) -> xr.Dataset:
    """Like :func:`load_sweep`, but only the points stored after the first ``rows_read`` (one row per
    point, in the order they were measured); no points if there are none."""
    return _sweep_dataset(run, run.dataset.get_parameter_data(start=rows_read + 1))


def _sweep_dataset(run: SweepRun, data: dict) -> xr.Dataset:
    """The rows in ``data`` (QCoDeS parameter data) as xarray, ordered by point index."""
    counts_data, axes = data.get("counts", {}), run.axes
    if not len(counts_data.get("counts", ())):
        points, counts = np.array([], int), np.zeros((0, len(run.plan.settings), len(OUTCOMES)), np.int64)
    else:
        row_points = _row_points(data, "counts")
        order = np.argsort(row_points)
        points, counts = row_points[order], counts_data["counts"][order]
    variables = {"counts": (("point", "setting", "outcome"), counts.astype(np.int64))}
    for name, (label, unit) in _POINT_SCALARS.items():
        column = stored_name(name, axes)
        by_index = dict(zip(_row_points(data, column), data[column][column]))
        variables[name] = ("point", np.array([by_index[i] for i in points], dtype=float), {"units": unit, "long_name": label})
    by_index = dict(zip(_row_points(data, "lab_link"), data["lab_link"]["lab_link"]))
    variables["lab_link"] = ("point", np.array([str(by_index[i]) for i in points], dtype=object))
    dataset = xr.Dataset(
        variables,
        coords={"point": points, "setting": list(run.plan.settings), "outcome": list(OUTCOMES)},
        attrs={"run_id": run.run_id, "plan": run.plan.to_json(), "status": run.metadata.get(STATUS_KEY, "")},
    )
    return dataset


def export_if_configured(dataset) -> None:
    """QCoDeS' automatic export of a completed run, as its ``Measurement`` does it: if the user's
    QCoDeS config sets ``dataset.export_automatic``, ``dataset.export(automatic_export=True)`` with
    the configured type, path, prefix and name elements. A failing export is logged, never raised:
    the run is already stored."""
    if not get_data_export_automatic():
        return
    try:
        dataset.export(automatic_export=True)
    except (OSError, ValueError) as error:
        _LOG.warning("automatic export of run %s (%s) failed: %s", dataset.run_id, dataset.guid, error)


def export_qcodes(dataset, folder: str | Path) -> Path:
    """``dataset.export("netcdf")`` into ``folder``: QCoDeS' own file (its name from the user's
    configured prefix and name elements; GUID, snapshot, timestamps, links and every metadata entry
    as attributes), readable with ``qcodes.dataset.load_from_netcdf``. (CSV does not fit these runs:
    QCoDeS writes one CSV table only when all parameters have the same length, and the counts and
    density matrices are arrays beside per-point scalars.)"""
    dataset.export("netcdf", path=Path(folder))
    return Path(dataset.export_info.export_paths["nc"])


def _qcodes_xarray(dataset, renames: dict[str, str]) -> xr.Dataset:
    """QCoDeS' xarray of a run (its exporter's variables and attributes), dimensions renamed."""
    data = dataset.to_xarray_dataset(use_multi_index="never")
    data = data.rename({old: new for old, new in renames.items() if old in data.dims})
    return data


def _on_setpoints(run: SweepRun, view: xr.Dataset) -> xr.Dataset:
    """A format-3 run's view (:func:`load_sweep`) with its stored names: the planned setpoints as
    coordinates on ``point`` (with units), the read-backs of the swept settings as ``<name>_readback``."""
    axes, points = run.axes, view["point"].values
    view = view.rename({name: stored_name(name, axes) for name in axes})
    return view.assign_coords({name: ("point", np.array([run.plan.points[i][name] for i in points], dtype=float),
                                      {"units": _POINT_SCALARS[name][1], "long_name": f"{_POINT_SCALARS[name][0]} (planned)"})
                               for name in axes})


def export_netcdf(run: SweepRun, path: str | Path, conn=None) -> Path:
    """Write the raw run and (given ``conn``, if there is one) its latest analysis as one netCDF file
    (h5netcdf), enough to analyse and judge the file on its own: QCoDeS' xarray of the raw run (counts,
    per-point settings; GUID, snapshot, timestamps, metadata as attributes) on the axes ``point``,
    ``setting``, ``outcome`` (format 3: the planned setpoints, e.g. ``bandwidth`` in Hz, as coordinates
    on ``point``, the read-backs of the swept settings as ``<name>_readback``), the assignment matrices as a variable, the readout calibration, and the
    analysis results on ``point`` (``rho``/``twin_rho`` as ``_real``/``_imag`` over ``ket``/``bra``)."""
    if not run.completed_points():
        load_sweep(run)  # raises the message for a run without points
    if run.axes:
        dataset = _on_setpoints(run, load_sweep(run))
        dataset.attrs.update(_qcodes_xarray(run.dataset, {}).attrs)
    else:
        dataset = _qcodes_xarray(run.dataset, {"point_index": "point", "setting_index": "setting",
                                               "outcome_index": "outcome"})
        dataset = dataset.assign_coords(point=dataset["point"].values.astype(int), setting=list(run.plan.settings),
                                        outcome=list(OUTCOMES))
    dataset["lab_link"] = dataset["lab_link"].astype(str)
    # What the estimator needs beside the counts: the readout errors it folds in.
    dataset["assignment"] = (("qubit", "read", "state"), assignment_of(run))
    dataset["assignment"].attrs["convention"] = "A[qubit][i, j] = P(read i | state j), qubits 1 and 2"
    dataset = dataset.assign_coords(qubit=[1, 2], read=[0, 1], state=[0, 1])
    dataset.attrs.update(plan=run.plan.to_json(), status=run.metadata.get(STATUS_KEY, ""))
    if CALIBRATION_KEY in run.metadata:
        dataset.attrs["readout_calibration"] = run.metadata[CALIBRATION_KEY]
    if conn is not None and is_analysed(run):
        analysis = analysis_dataset(conn, run)
        if run.axes:
            results = load_analysis(conn, run)
            for part in ("rho", "twin_rho"):
                results[f"{part}_real"], results[f"{part}_imag"] = results[part].real, results[part].imag
            results = results.drop_vars(["rho", "twin_rho"])
            results.attrs = {}
        else:
            results = _qcodes_xarray(analysis, {"point_index": "point"})
            results = results.assign_coords(point=results["point"].values.astype(int), ket=list(BASIS_LABELS),
                                            bra=list(BASIS_LABELS))
            results = results.drop_vars([name for name in ANALYSIS_SETTINGS if name in results])  # the raw run has them
        dataset = dataset.merge(results.reindex(point=dataset["point"]), compat="override", combine_attrs="override")
        dataset.attrs.update(analysis_guid=analysis.guid, analysis_run_id=analysis.run_id,
                             estimator=analysis.metadata.get("thermalink_estimator", ""),
                             certification_confidence=analysis.metadata.get(CONFIDENCE_KEY, ""))
    path = Path(path)
    dataset.to_netcdf(path, engine="h5netcdf")
    return path


# --- analysis beside the raw run ----------------------------------------------------------------

def _analysis_interdependencies(axes: tuple[str, ...] = ()) -> InterDependencies_:
    setpoints, index = _setpoints(axes)
    ket = ParamSpecBase("ket", "array", label="ket (gg, ge, eg, ee)", unit="")
    bra = ParamSpecBase("bra", "array", label="bra (gg, ge, eg, ee)", unit="")
    deps = {ParamSpecBase(name, "numeric", label=name.replace("_", " "), unit=""): setpoints for name in ANALYSIS_SCALARS}
    deps.update({ParamSpecBase(stored_name(name, axes), "numeric", label=label, unit=unit): setpoints
                 for name, (label, unit) in ANALYSIS_SETTINGS.items()})
    if axes:
        deps[index] = setpoints
    for part in ("rho_real", "rho_imag", "twin_rho_real", "twin_rho_imag"):
        deps[ParamSpecBase(part, "array", label=part.replace("_", " "), unit="")] = (*setpoints, ket, bra)
    return InterDependencies_(dependencies=deps)


def save_analysis(conn, raw: SweepRun, results: list[dict], method: str, *, significance: float | None = None) -> int:
    """Store per-point analysis results as a new run linked both ways to the raw run by GUID (a QCoDeS
    parent-dataset link, and :data:`ANALYSIS_GUID_KEY` on the raw run), in one SQLite transaction:
    an interrupted save leaves the previous analysis linked.

    The analysis run holds, per point, the read-back settings (:data:`ANALYSIS_SETTINGS`: bandwidth
    Hz, temperature K, attenuation dB, occupation) beside every result, the raw run's station
    snapshot, and as metadata the estimator, the raw run's GUID, the certification confidence and
    the goodness-of-fit ``significance`` (if given). With the user's QCoDeS automatic export
    configured, it is exported when saved (:func:`export_if_configured`)."""
    sample = raw.dataset.sample_name
    ket, bra = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    readback = load_sweep(raw) if results else None
    rows, axes = [], raw.axes  # the raw run's layout
    for result in results:
        row = {"point_index": result["point_index"], "ket": ket, "bra": bra}
        row.update({name: float(raw.plan.points[result["point_index"]][name]) for name in axes})
        point = readback.sel(point=result["point_index"])
        row.update({stored_name(name, axes): float(point[name]) for name in ANALYSIS_SETTINGS})
        row.update({name: float(result[name]) for name in ANALYSIS_SCALARS})
        row.update({"rho_real": result["rho"].real, "rho_imag": result["rho"].imag})
        row.update({"twin_rho_real": result["twin_rho"].real, "twin_rho_imag": result["twin_rho"].imag})
        rows.append(row)
    with one_transaction(conn):
        experiment = load_or_create_experiment(EXPERIMENT_NAME, sample_name=sample, conn=conn)
        dataset = new_data_set(f"{raw.plan.kind}_sweep_analysis", exp_id=experiment.exp_id, conn=conn)
        dataset.set_interdependencies(_analysis_interdependencies(axes))
        dataset.parent_dataset_links = [Link(head=dataset.guid, tail=raw.dataset.guid, edge_type=ANALYSIS_EDGE,
                                             description=f"analysis ({method}) of the raw sweep")]
        if raw.dataset.snapshot_raw:
            dataset.add_snapshot(raw.dataset.snapshot_raw)
        dataset.mark_started()
        entries = {"thermalink_estimator": method, RAW_GUID_KEY: raw.dataset.guid,
                   CONFIDENCE_KEY: str(CERTIFICATION_CONFIDENCE)}
        if significance is not None:
            entries[SIGNIFICANCE_KEY] = str(significance)
        for key, value in entries.items():
            dataset.add_metadata(key, value)
        if rows:
            dataset.add_results(rows)
        dataset.mark_completed()
        raw.dataset.add_metadata(ANALYSIS_GUID_KEY, dataset.guid)
    export_if_configured(dataset)
    return dataset.run_id


def load_analysis(conn, raw: SweepRun) -> xr.Dataset:
    """The latest analysis of a raw run, as xarray over ``point`` (and ``ket``/``bra``)."""
    dataset = analysis_dataset(conn, raw)
    data = dataset.get_parameter_data()
    row_points = _row_points(data, ANALYSIS_SCALARS[0])
    order = np.argsort(row_points)
    points = row_points[order]
    # (analyses stored before a scalar existed lack it: it is left out)
    variables = {name: ("point", data[name][name][order]) for name in ANALYSIS_SCALARS if name in data}
    for part in ("rho", "twin_rho"):
        real, imag = data[f"{part}_real"][f"{part}_real"][order], data[f"{part}_imag"][f"{part}_imag"][order]
        variables[part] = (("point", "ket", "bra"), real + 1j * imag)
    basis = list(BASIS_LABELS)
    return xr.Dataset(
        variables,
        coords={"point": points, "ket": basis, "bra": basis},
        attrs={"analysis_run_id": dataset.run_id, "raw_run_id": raw.run_id,
               "estimator": RunMetadata(dataset.run_id, dataset.metadata).get("thermalink_estimator", "")},
    )
