"""The run log's bookkeeping; the log of a real run through the command line (beside its figures,
instrument traffic at debug level, continued on resume) is tested in test_run_command_lab_layer.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from thermalink.experiments.run_log import RUN_LOG_KEY, logged_paths, start_run_log


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
