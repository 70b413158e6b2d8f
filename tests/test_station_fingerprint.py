"""A station's fingerprint changes with what the station defines, not with how its file is written."""

from __future__ import annotations

from importlib import resources

import pytest

from thermalink.experiments.station_fingerprint import station_fingerprint
from thermalink.station_configs import station_config_path


def edited_station(folder, old: str, new: str, name: str = "station.yaml"):
    """A copy of the simulated station file with ``old`` replaced by ``new``."""
    text = station_config_path("simulated").read_text()
    assert old in text
    path = folder / name
    path.write_text(text.replace(old, new))
    return path


def test_comments_whitespace_and_the_file_location_do_not_change_the_fingerprint(tmp_path):
    original = station_fingerprint(station_config_path("simulated"))
    commented = edited_station(tmp_path, "      t1: 1.55e-7 ", "\n      # checked 2026-11-25\n      t1:   1.55e-7 ")
    assert station_fingerprint(commented).sha256 == original.sha256
    assert station_fingerprint(commented).path == str(commented)


@pytest.mark.parametrize(
    "old, new",
    [
        ("t1: 1.55e-7", "t1: 1.50e-7"),  # a qubit parameter
        ("assignment_errors: [0.02, 0.05,", "assignment_errors: [0.03, 0.05,"),  # the simulated readout
        ("address: GPIB::7::INSTR", "address: GPIB::8::INSTR"),  # an instrument address
        ("max_temperature: 40.0", "max_temperature: 30.0"),  # a source limit
    ],
)
def test_a_changed_setting_changes_the_fingerprint(tmp_path, old, new):
    assert station_fingerprint(edited_station(tmp_path, old, new)).sha256 != \
        station_fingerprint(station_config_path("simulated")).sha256


def test_a_changed_pyvisa_sim_file_changes_the_fingerprint(tmp_path, monkeypatch):
    sims = tmp_path / "my_sims"
    sims.mkdir()
    (sims / "__init__.py").write_text("")
    filter_sim = resources.files("thermalink.drivers.sims") / "TunableFilter.yaml"
    (sims / "TunableFilter.yaml").write_text(filter_sim.read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    station = edited_station(tmp_path, "thermalink.drivers.sims:TunableFilter.yaml", "my_sims:TunableFilter.yaml")
    before = station_fingerprint(station).sha256
    (sims / "TunableFilter.yaml").write_text(filter_sim.read_text().replace("max: 8.0e9", "max: 9.0e9"))
    assert station_fingerprint(station).sha256 != before


def test_a_missing_station_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="station file '.*nowhere.yaml' does not exist"):
        station_fingerprint(tmp_path / "nowhere.yaml")


def test_a_fingerprint_stored_before_schemes_is_compared_in_its_own_scheme(tmp_path):
    import json

    from thermalink.experiments.station_fingerprint import (
        STATION_KEY, StationChangedError, StationFingerprint, check_resume_station)

    simulated = station_config_path("simulated")
    legacy = station_fingerprint(simulated, scheme=1)
    current = station_fingerprint(simulated)
    assert current.scheme == 2 and legacy.sha256 != current.sha256  # the sim files load differently
    stored_then = {"path": legacy.path, "sha256": legacy.sha256}  # as a run stored it, no scheme
    assert StationFingerprint.from_json(json.dumps(stored_then)) == legacy
    metadata = {STATION_KEY: json.dumps(stored_then)}
    assert check_resume_station(7, metadata, current) is False  # the same setup: no change recorded
    changed = station_fingerprint(edited_station(tmp_path, "t1: 1.55e-7", "t1: 1.50e-7"))
    with pytest.raises(StationChangedError, match="run 7 was measured on station file"):
        check_resume_station(7, metadata, changed)


def test_pyvisa_sim_files_count_as_pyvisa_sim_reads_them(tmp_path, monkeypatch):
    """Scheme 2: a number written another way is another answer string of the simulated instrument."""
    sims = tmp_path / "string_sims"
    sims.mkdir()
    (sims / "__init__.py").write_text("")
    filter_sim = (resources.files("thermalink.drivers.sims") / "TunableFilter.yaml").read_text()
    (sims / "TunableFilter.yaml").write_text(filter_sim)
    monkeypatch.syspath_prepend(str(tmp_path))
    station = edited_station(tmp_path, "thermalink.drivers.sims:TunableFilter.yaml", "string_sims:TunableFilter.yaml")
    before = station_fingerprint(station)
    assert "max: 8.0e9" in filter_sim
    (sims / "TunableFilter.yaml").write_text(filter_sim.replace("max: 8.0e9}", "max:   8.0e9 }  # Hz"))
    assert station_fingerprint(station).sha256 == before.sha256  # comments and spacing do not count
    (sims / "TunableFilter.yaml").write_text(filter_sim.replace("max: 8.0e9", "max: 8e9"))
    assert station_fingerprint(station).sha256 != before.sha256
