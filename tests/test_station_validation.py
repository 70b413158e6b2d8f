"""A bad station file fails with one message naming the file, the key and what was expected,
before any instrument opens."""

from __future__ import annotations

import pytest

from thermalink.experiments.cli import main
from thermalink.experiments.lab_station import LabStation
from thermalink.experiments.station_validation import validate_station_file
from thermalink.station_configs import station_config_path


def edited(folder, old: str, new: str, name: str = "simulated"):
    text = station_config_path(name).read_text()
    assert old in text, old
    path = folder / "station.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.fixture
def no_instruments(monkeypatch):
    """Loading any station instrument fails the test: validation must come first."""
    import qcodes

    def refuse(*args, **kwargs):
        raise AssertionError("an instrument was opened before the station file was validated")

    monkeypatch.setattr(qcodes.Station, "load_instrument", refuse)


@pytest.mark.parametrize("name", ["simulated", "lab_template"])
def test_the_bundled_station_files_are_valid(name):
    assert set(validate_station_file(station_config_path(name))["instruments"]) >= {"source", "readout"}


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("      max_temperature: 40.0", "      max_temprature: 40.0",
         "instruments.source.init.max_temprature: unknown key for thermalink.simulators.virtual_lab.source."
         "VirtualFilteredThermalSource; expected one of [", ),
        ("      max_temperature: 40.0", "      max_temperature: hot",
         "instruments.source.init.max_temperature: 'hot' (str) is the wrong type; expected float"),
        ("      shots: 2000", "      shots: 2000.5", "instruments.readout.init.shots: 2000.5"),
        ("    enable_forced_reconnect: true\n    init:\n      source: source",
         "    enable_forced_reconect: true\n    init:\n      source: source",
         "instruments.readout.enable_forced_reconect: unknown key; expected one of ["),
        ("    address: GPIB::7::INSTR", "    address: 7", "instruments.attenuator.address: 7 is not of type 'string'"),
        ("  readout:\n", "  read_out:\n", "lacks the instruments ['readout']; thermalink needs ['source', 'readout']"),
        ("    address: GPIB::7::INSTR\n", "",
         "instruments.attenuator.address: missing; thermalink.drivers.step_attenuator.Weinschel8320 requires it"),
        ("assignment_errors: [0.02, 0.05, 0.02, 0.05]", "assignment_errors: [0.02, 0.05, 0.02]",
         "instruments.readout.init.assignment_errors: [0.02, 0.05, 0.02]; expected four probabilities in [0, 0.5]"),
        ("      integration_time: 1.0e-6", "      integration_time: 1.0e-2",
         "instruments.readout.init.integration_time: 0.01 is outside the allowed range [0, 0.0001] s"),
        ("      freeze: true", "      freeze: yes please",
         "instruments.readout.init.freeze: 'yes please' (str) is the wrong type; expected bool"),
        ("type: thermalink.drivers.step_attenuator.Weinschel8320", "type: thermalink.drivers.step_atenuator.Weinschel8320",
         "instruments.attenuator.type: cannot import 'thermalink.drivers.step_atenuator.Weinschel8320'"),
    ],
)
def test_a_bad_station_file_names_file_key_and_expectation_before_anything_opens(
        tmp_path, no_instruments, old, new, message):
    path = edited(tmp_path, old, new)
    with pytest.raises(ValueError) as raised:
        LabStation.from_config(path)
    text = str(raised.value)
    assert text.startswith(f"station file {str(path)!r} is not a valid station (1 problem)")
    assert message in text


def test_a_misspelling_is_answered_with_the_likely_key(tmp_path):
    path = edited(tmp_path, "      ramp_rate: 5.0", "      ramp_rat: 5.0")
    with pytest.raises(ValueError, match=r"ramp_rat: unknown key .*\(did you mean 'ramp_rate'\?\)"):
        validate_station_file(path)


def test_several_problems_come_in_one_message(tmp_path):
    path = edited(tmp_path, "      ramp_rate: 5.0", "      ramp_rat: 5.0")
    path.write_text(path.read_text().replace("      link_loss: 0.1", "      link_loss: [0.1]"))
    with pytest.raises(ValueError, match=r"\(2 problems\)") as raised:
        validate_station_file(path)
    assert "ramp_rat" in str(raised.value) and "instruments.readout.init.link_loss: [0.1]" in str(raised.value)


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = edited(tmp_path, "      ramp_rate: 5.0", "      ramp_rate: [5.0")
    with pytest.raises(ValueError, match=r"(?s)is not valid YAML: .*line 6\d"):
        validate_station_file(path)


def test_the_command_line_prints_the_message_and_exits_2(tmp_path, capsys, no_instruments):
    path = edited(tmp_path, "      max_temperature: 40.0", "      max_temprature: 40.0")
    assert main(["calibrate", "readout", "--station", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"station file {str(path)!r}" in err and "max_temprature" in err and "Traceback" not in err
