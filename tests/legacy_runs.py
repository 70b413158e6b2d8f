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
