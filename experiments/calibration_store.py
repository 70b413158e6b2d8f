"""Readout calibrations that outlast the process: written into the station file, named in each run.

:func:`write_assignment_errors` puts a calibration's four error probabilities (qubit 1 P(1|0), qubit 1
P(0|1), qubit 2 P(1|0), qubit 2 P(0|1)) into ``instruments.readout.init.assignment_errors`` of a
station YAML with ruamel.yaml's round trip (the parser QCoDeS uses): comments, key order and the
rest of the file stay as they were; the file is replaced atomically and re-validated. The bundled
station files are package data and are never written.

:func:`calibration_origin` is what a new run stores under :data:`CALIBRATION_ORIGIN_KEY`: where
the readout errors it starts with came from (measured just before the run, or the station file
with its fingerprint), whether they include the readout protocol's decay after the pulse
(``assignment_errors_include_readout_decay``, written into the file with a calibration) and which
matrix the estimator uses.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from thermalink.drivers.two_qubit_readout import INCLUDES_DECAY_PARAMETER, readout_errors_include_decay
from thermalink.simulators.errors import InputError

CALIBRATION_ORIGIN_KEY = "thermalink_readout_calibration_origin"
#: The readout's (and the station file's) statement that its errors hold the readout protocol's decay.
INCLUDES_DECAY_KEY = INCLUDES_DECAY_PARAMETER
#: Digits kept for an error probability in the station file (far below any calibration's error bar).
DIGITS = 6


def _bundled(path: Path) -> bool:
    from thermalink.station_configs import station_config_path

    return path.resolve().parent == station_config_path("simulated").resolve().parent


def write_assignment_errors(station_file: str | Path, errors, include_readout_decay: bool | None = None) -> list[float]:
    """Write four error probabilities into the station file's readout section; return them as written.

    ``include_readout_decay``: also write ``assignment_errors_include_readout_decay`` (True: the errors
    were measured through the readout protocol, as a calibration is; ``None``: leave it as it is).
    ValueError (file untouched) for a bundled station file, a file without a readout instrument,
    or errors that are not four probabilities in [0, 0.5].
    """
    import ruamel.yaml

    from .station_validation import read_station_yaml, validate_station_file

    path = Path(station_file)
    values = [round(float(e), DIGITS) for e in (errors.values() if isinstance(errors, dict) else errors)]
    if len(values) != 4 or not all(0 <= e <= 0.5 for e in values):
        raise InputError(f"assignment errors {values}: expected four probabilities in [0, 0.5]")
    if _bundled(path):
        raise InputError(f"station file {str(path)!r} is bundled with thermalink and is not written; copy it "
                         "and pass --station COPY to keep a calibration")
    read_station_yaml(path)  # a clear message if it is not YAML
    yaml = ruamel.yaml.YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    data = yaml.load(path.read_text())
    readout = (data.get("instruments") or {}).get("readout")
    if not isinstance(readout, dict):
        raise InputError(f"station file {str(path)!r} has no instruments.readout section to write the calibration to")
    if readout.get("init") is None:
        readout["init"] = ruamel.yaml.comments.CommentedMap()
    init = readout["init"]
    current = init.get("assignment_errors")
    if isinstance(current, list) and len(current) == 4:
        current[:] = values  # in place: the line's comment and flow style stay
    else:
        sequence = ruamel.yaml.comments.CommentedSeq(values)
        sequence.fa.set_flow_style()
        init["assignment_errors"] = sequence
    if include_readout_decay is not None:
        if INCLUDES_DECAY_KEY in init:
            init[INCLUDES_DECAY_KEY] = bool(include_readout_decay)  # the key's comment stays
        else:
            # Before the errors' line: comment lines after a key belong to it in ruamel, so after it the
            # flag would land below the comments that follow the errors.
            init.insert(list(init).index("assignment_errors"), INCLUDES_DECAY_KEY, bool(include_readout_decay))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            yaml.dump(data, file)
        validate_station_file(temporary)  # what we wrote is still a valid station
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return values


def persist_readout_calibration(station_file: str | Path | None, calibration) -> str:
    """:func:`write_assignment_errors` for ``calibrate readout --apply``; returns what was done, as text."""
    errors = list(calibration.errors.values())
    if station_file is None:
        return ("for this session only: the bundled simulated station file is not written "
                "(copy it and pass --station COPY to keep calibrations)")
    written = write_assignment_errors(station_file, errors, include_readout_decay=True)
    return (f"wrote assignment_errors {written} and {INCLUDES_DECAY_KEY}: true (measured through the readout "
            f"protocol) into {station_file} (instruments.readout.init; comments kept); "
            "the next station load and the runs on it use them")


def calibration_origin(station_file: str | Path | None, lab, calibration=None) -> str:
    """JSON naming the readout calibration a new run starts with.

    ``calibration``: the one measured just before the run (stored in full beside this), else the
    errors come from the station file, identified by its path and fingerprint.
    ``assignment_errors_include_readout_decay``: whether the errors were measured through the readout
    protocol (a calibration; the analysis folds the protocol's decay in only when they were not).
    """
    errors = [float(lab.assignment()[q][i, j]) for q in (0, 1) for i, j in ((1, 0), (0, 1))]
    includes = readout_errors_include_decay(getattr(lab, "readout", None), default=calibration is not None)
    origin = {"assignment_errors": errors, INCLUDES_DECAY_KEY: includes}
    if calibration is not None:
        origin.update(source="measured before the run", shots=calibration.shots,
                      estimator_matrix=calibration.estimator_matrix,
                      independence_p_value=calibration.independence_test["p_value"])
    else:
        fingerprint = getattr(lab, "fingerprint", None)
        origin.update(source="station file", station_file=str(station_file) if station_file else "simulated (bundled)",
                      station_fingerprint=json.loads(fingerprint.to_json()) if fingerprint is not None else None,
                      estimator_matrix="per-qubit")
    return json.dumps(origin, default=lambda value: np.asarray(value).tolist())


def errors_include_readout_decay(metadata: dict) -> bool:
    """Whether a run's starting readout errors (its :data:`CALIBRATION_ORIGIN_KEY`) were measured
    through the readout protocol; False for a run stored before the key existed (the errors were
    then taken as the discriminator's)."""
    stored = metadata.get(CALIBRATION_ORIGIN_KEY)
    return bool(json.loads(stored).get(INCLUDES_DECAY_KEY, False)) if stored else False
