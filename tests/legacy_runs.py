"""Runs as thermalink stored them before storage format versions (format 1), for tests of how
today's code reads them: created entry by entry (plan, assignment, status, the extra metadata, the
station fingerprint last, only if there is one), without a format version or a transaction."""

from __future__ import annotations

import json

import numpy as np
from qcodes.dataset import load_or_create_experiment, new_data_set

from thermalink.experiments import sweep_storage
from thermalink.experiments.sweep_storage import (
    ASSIGNMENT_KEY,
    EXPERIMENT_NAME,
    PLAN_KEY,
    STATION_KEY,
    STATUS_KEY,
    SweepRun,
)


def create_legacy_run(conn, plan, sample, snapshot, assignment, metadata=None, *, station="null",
                      entries: int | None = None) -> SweepRun:
    """What ``create_sweep_run`` did before format versions; only the first ``entries`` metadata
    entries are written if given (a creation stopped half-way)."""
    experiment = load_or_create_experiment(EXPERIMENT_NAME, sample_name=sample, conn=conn)
    dataset = new_data_set(f"{plan.kind}_sweep", exp_id=experiment.exp_id, conn=conn)
    dataset.set_interdependencies(sweep_storage._raw_interdependencies())
    dataset.add_snapshot(json.dumps({"station": snapshot}, default=str))
    dataset.mark_started()
    written = {PLAN_KEY: plan.to_json(), ASSIGNMENT_KEY: json.dumps(np.asarray(assignment).tolist()),
               STATUS_KEY: "running", **(metadata or {})}
    if station != "null":
        written[STATION_KEY] = station
    for key, value in list(written.items())[:entries]:
        dataset.add_metadata(key, value)
    return SweepRun(dataset, plan)


def save_legacy_analysis(conn, raw: SweepRun, results: list[dict], method: str = "mle") -> int:
    """What ``save_analysis`` did before GUID links: run-number links both ways, no QCoDeS link."""
    from thermalink.experiments.sweep_storage import (
        ANALYSIS_LINK_KEY, ANALYSIS_SCALARS, RAW_LINK_KEY, _analysis_interdependencies, one_transaction,
    )

    ket, bra = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    rows = []
    for result in results:
        row = {"point_index": result["point_index"], "ket": ket, "bra": bra}
        row.update({name: float(result[name]) for name in ANALYSIS_SCALARS})
        row.update({"rho_real": result["rho"].real, "rho_imag": result["rho"].imag,
                    "twin_rho_real": result["twin_rho"].real, "twin_rho_imag": result["twin_rho"].imag})
        rows.append(row)
    with one_transaction(conn):
        experiment = load_or_create_experiment(EXPERIMENT_NAME, sample_name=raw.dataset.sample_name, conn=conn)
        dataset = new_data_set(f"{raw.plan.kind}_sweep_analysis", exp_id=experiment.exp_id, conn=conn)
        dataset.set_interdependencies(_analysis_interdependencies())
        dataset.mark_started()
        dataset.add_metadata(RAW_LINK_KEY, str(raw.run_id))
        dataset.add_metadata("thermalink_estimator", method)
        dataset.add_results(rows)
        dataset.mark_completed()
        raw.dataset.add_metadata(ANALYSIS_LINK_KEY, str(dataset.run_id))
    return dataset.run_id
