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


def test_other_libraries_debug_records_are_not_even_created_but_their_info_is_logged(tmp_path):
    other = logging.getLogger("some_instrument_library")
    root_level = logging.getLogger().level
    run_log = start_run_log(tmp_path)
    try:
        assert not other.isEnabledFor(logging.DEBUG)  # pyvisa's chatter costs nothing during a run
        assert logging.getLogger("qcodes.instrument").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("thermalink.experiments").isEnabledFor(logging.DEBUG)
        other.info("an info line of another library")
        other.debug("a debug line of another library")
    finally:
        run_log.stop()
    text = run_log.path.read_text()
    assert "an info line of another library" in text and "a debug line" not in text
    assert logging.getLogger().level == root_level
