"""The log file of a run, beside its figures, in QCoDeS' log format.

:func:`start_run_log` attaches a file handler with QCoDeS' formatter
(:func:`qcodes.logger.logger.get_formatter`; the file reads back with
:func:`qcodes.logger.logfile_to_dataframe`) to the root logger while a run is measured. It takes
thermalink's and QCoDeS' records from DEBUG up, which includes the instrument traffic QCoDeS'
instrument loggers write (``[instrument(Class)] Writing: ...``, ``Querying: ...``,
``Response: ...``), and every other library's from INFO up (pyvisa's own DEBUG chatter is left out).
Retries, interlock trips and interruptions land there as warnings and errors.

The run's metadata names the file (:data:`RUN_LOG_KEY`, a JSON list of paths: a resumed run appends
to its log if it is still there, otherwise starts a new one beside its new figures).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

RUN_LOG_KEY = "thermalink_run_log"
#: Loggers whose DEBUG records (instrument traffic, the runner's steps) go into the run log.
DEBUG_LOGGERS = ("qcodes", "thermalink")

log = logging.getLogger(__name__)


class _RunLogHandler(logging.FileHandler):
    """The run log's handler (a class of its own so a leftover one can be found and closed)."""


class _RunLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        return record.name.split(".")[0] in DEBUG_LOGGERS


@dataclass
class RunLog:
    """An open run log; :meth:`stop` detaches it (idempotent)."""

    path: Path
    handler: logging.Handler
    _levels: dict = field(default_factory=dict)

    def stop(self) -> None:
        if self.handler is None:
            return
        root = logging.getLogger()
        log.info("run log closed")
        root.removeHandler(self.handler)
        self.handler.close()
        for name, level in self._levels.items():
            logging.getLogger(name or None).setLevel(level)
        self.handler = None


def logged_paths(metadata: dict) -> list[str]:
    """The log files a run's metadata names (oldest first)."""
    stored = metadata.get(RUN_LOG_KEY)
    return json.loads(stored) if stored else []


def start_run_log(folder: str | Path, dataset=None) -> RunLog:
    """Start logging into a file in ``folder``.

    ``dataset``: the QCoDeS dataset of a run being resumed; its log is continued if it still exists
    (else a new one is started and added to its metadata). For a new run (no dataset) store
    ``{RUN_LOG_KEY: json.dumps([str(log.path)])}`` in the run's metadata (see :func:`run_log_metadata`).
    """
    from qcodes.logger.logger import get_formatter

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    previous = logged_paths(dataset.metadata) if dataset is not None else []
    if previous and Path(previous[-1]).is_file():
        path = Path(previous[-1])
    else:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = folder / f"thermalink_run_{stamp}_{os.getpid()}.log"
        if dataset is not None:
            dataset.add_metadata(RUN_LOG_KEY, json.dumps([*previous, str(path.resolve())]))
    root = logging.getLogger()
    for stale in [h for h in root.handlers if isinstance(h, _RunLogHandler)]:  # a run that failed to stop
        root.removeHandler(stale)
        stale.close()
    handler = _RunLogHandler(path, mode="a", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(get_formatter())
    handler.addFilter(_RunLogFilter())
    levels = {"": root.level}
    if root.getEffectiveLevel() > logging.INFO:  # other libraries' INFO records reach the handler
        root.setLevel(logging.INFO)  # (not DEBUG: pyvisa's DEBUG chatter is then never even created)
    for name in DEBUG_LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        if logger.getEffectiveLevel() > logging.DEBUG:
            logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    run_log = RunLog(path.resolve(), handler, levels)
    log.info("run log %s opened%s", run_log.path, f" (resuming run {dataset.run_id})" if dataset is not None else "")
    return run_log


def run_log_metadata(run_log: RunLog) -> dict[str, str]:
    """The metadata a new run stores to name its log."""
    return {RUN_LOG_KEY: json.dumps([str(run_log.path)])}
