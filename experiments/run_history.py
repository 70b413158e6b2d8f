"""Run history of a thermalink database: the list of runs and what changed between two of them.

``thermalink runs`` lists every run (id, GUID, kind, status, points, started, verdict); ``thermalink
diff A B`` shows the station-snapshot parameters that differ (QCoDeS'
:func:`qcodes.utils.diff_param_values`, so instrument parameters by ``(instrument, parameter)``)
and the sweep-plan fields that differ. Kinds: a raw sweep's plan kind (``bandwidth``,
``temperature``, ``map``), ``analysis`` for an analysis run, else the QCoDeS run name.
Verdict: ``K/N consistent`` with the twin (from the run's latest analysis), ``-`` if none.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from thermalink.simulators.errors import InputError

# QCoDeS and the storage layer are imported where used: the command line builds its parser from
# this module and should stay quick for the commands that need neither.

#: Columns of ``thermalink runs``, in order.
COLUMNS = ("id", "guid", "kind", "status", "points", "started", "verdict")


@dataclass(frozen=True)
class RunSummary:
    """One row of the run history (all text, as printed)."""

    id: int
    guid: str
    kind: str
    status: str
    points: str
    started: str
    verdict: str


def _verdict(consistent) -> str:
    import numpy as np

    values = np.asarray(consistent, dtype=float).ravel()
    return f"{int(np.sum(values == 1))}/{len(values)} consistent" if len(values) else "-"


def _is_analysis(dataset) -> bool:
    from .sweep_storage import is_analysis_run

    return is_analysis_run(dataset)


def summarise_run(conn, run_id: int) -> RunSummary:
    """The history row of run ``run_id``."""
    from qcodes.dataset import load_by_id

    from .sweep_storage import PLAN_KEY, STATUS_KEY, load_analysis, open_sweep_run

    dataset = load_by_id(run_id, conn=conn)
    started = dataset.run_timestamp() or "not started"
    status = dataset.metadata.get(STATUS_KEY) or ("completed" if dataset.completed else "running")
    common = dict(id=run_id, guid=dataset.guid, status=status, started=started)
    if PLAN_KEY in dataset.metadata and not _is_analysis(dataset):
        run = open_sweep_run(conn, run_id)
        try:
            verdict = _verdict(load_analysis(conn, run)["consistent"].values)
        except (ValueError, KeyError):  # not analysed (yet), or an analysis without a verdict
            verdict = "-"
        return RunSummary(kind=run.plan.kind, points=f"{len(run.completed_points())}/{len(run.plan.points)}",
                          verdict=verdict, **common)
    if _is_analysis(dataset):
        data = dataset.get_parameter_data("consistent").get("consistent", {})
        consistent = data.get("consistent", [])
        return RunSummary(kind="analysis", points=str(len(consistent)), verdict=_verdict(consistent), **common)
    return RunSummary(kind=dataset.name, points=str(dataset.number_of_results), verdict="-", **common)


def list_runs(conn) -> list[RunSummary]:
    """Every run in the database, oldest first."""
    from qcodes.dataset.sqlite.queries import get_last_run

    last = get_last_run(conn)
    return [summarise_run(conn, run_id) for run_id in range(1, (last or 0) + 1)]


def format_runs(rows: list[RunSummary]) -> str:
    table = [COLUMNS] + [tuple(str(getattr(row, name)) for name in COLUMNS) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table)


# --- diff --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunDiff:
    """What differs between runs ``left`` and ``right``.

    ``snapshot``: QCoDeS' ``ParameterDiff`` (``left_only``, ``right_only``, ``changed`` keyed by
    parameter name or ``(instrument, parameter)``), ``None`` if a run has no snapshot;
    ``plan``: field -> (left, right) for plan fields that differ, ``None`` if a run has no plan.
    """

    left: int
    right: int
    snapshot: object
    plan: dict

    def describe(self) -> str:
        lines = [f"run {self.left} -> run {self.right}"]
        if self.snapshot is None:
            lines.append("station snapshot: not stored in both runs (an analysis run holds its raw run's)")
        else:
            changes = [(_key(k), f"{_value(a)} -> {_value(b)}") for k, (a, b) in self.snapshot.changed.items()]
            changes += [(_key(k), f"{_value(v)} -> (absent)") for k, v in self.snapshot.left_only.items()]
            changes += [(_key(k), f"(absent) -> {_value(v)}") for k, v in self.snapshot.right_only.items()]
            lines.append(f"station snapshot: {len(changes) or 'no'} parameter{'s' if len(changes) != 1 else ''} differ")
            lines += [f"  {name}: {change}" for name, change in sorted(changes)]
        if self.plan is None:
            lines.append("plan: not stored in both runs (an analysis run has none)")
        else:
            lines.append(f"plan: {len(self.plan) or 'no'} field{'s' if len(self.plan) != 1 else ''} differ")
            lines += [f"  {name}: {_value(a)} -> {_value(b)}" for name, (a, b) in sorted(self.plan.items())]
        return "\n".join(lines)


def _key(key) -> str:
    return ".".join(key) if isinstance(key, tuple) else str(key)


def _value(value) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _snapshot(dataset) -> dict | None:
    """The station snapshot a run was measured with; ``None`` for an analysis run (it carries a copy
    of its raw run's, not a station of its own) or a run without one."""
    snapshot = dataset.snapshot
    if not snapshot or _is_analysis(dataset):
        return None
    station = snapshot.get("station", snapshot)
    return station if "parameters" in station else None


def _plan_fields(dataset) -> dict | None:
    from .sweep_plan import SweepPlan
    from .sweep_storage import PLAN_KEY

    if PLAN_KEY not in dataset.metadata:
        return None
    fields = json.loads(SweepPlan.from_json(dataset.metadata[PLAN_KEY]).to_json())
    points = fields.pop("points")
    fields["number_of_points"] = len(points)
    for name in sorted({key for point in points for key in point}):
        fields[f"points.{name}"] = [point.get(name) for point in points]
    return fields


def diff_runs(conn, left: int, right: int) -> RunDiff:
    """Snapshot and plan differences between runs ``left`` and ``right`` (ValueError if one is missing)."""
    from qcodes.dataset import load_by_id
    from qcodes.utils import diff_param_values

    datasets = []
    for run_id in (left, right):
        try:
            datasets.append(load_by_id(run_id, conn=conn))
        except (ValueError, NameError, RuntimeError) as error:
            raise InputError(f"run {run_id} is not in this database ({error})") from None
    snapshots = [_snapshot(dataset) for dataset in datasets]
    snapshot = None if None in snapshots else diff_param_values(*snapshots)
    plans = [_plan_fields(dataset) for dataset in datasets]
    plan = None if None in plans else {
        name: (plans[0].get(name), plans[1].get(name)) for name in sorted(set(plans[0]) | set(plans[1]))
        if plans[0].get(name) != plans[1].get(name)}
    return RunDiff(left, right, snapshot, plan)


# --- command line ------------------------------------------------------------------------------

def _existing_database(path: Path):
    from .sweep_storage import database

    if not path.is_file():
        raise InputError(f"--db {path}: no such database")
    return database(path)


def _runs_command(args: argparse.Namespace) -> int:
    rows = list_runs(_existing_database(args.db))
    print(format_runs(rows) if rows else f"{args.db}: no runs")
    return 0


def _diff_command(args: argparse.Namespace) -> int:
    print(diff_runs(_existing_database(args.db), args.left, args.right).describe())
    return 0


def add_history_parsers(commands, common: dict) -> None:
    """``thermalink runs`` and ``thermalink diff A B`` (``common``: the CLI's shared options)."""
    runs = commands.add_parser("runs", parents=[common["db"]],
                               help="list the runs in a database (id, GUID, kind, status, points, verdict)")
    runs.set_defaults(handler=_runs_command)
    diff = commands.add_parser("diff", parents=[common["db"]],
                               help="what changed in station snapshot and plan between two runs")
    diff.add_argument("left", type=int, metavar="A", help="id of the first run")
    diff.add_argument("right", type=int, metavar="B", help="id of the second run")
    diff.set_defaults(handler=_diff_command)
