"""``thermalink calibrate readout|source`` on the simulated station."""

import re

import pytest

from thermalink.experiments.cli import main
from thermalink.experiments.lab_station import LabStation


def effective_errors(path=None) -> list[float]:
    """What a calibration through the station's readout protocol measures: simulated.yaml's true
    errors with the frozen readout's decay after the pulse folded in."""
    lab = LabStation.from_config(path)
    try:
        return list(lab.readout.effective_assignment_errors())
    finally:
        lab.close()


def test_calibrate_readout_prints_the_errors_and_the_station_file_line(capsys):
    expected = effective_errors()
    assert main(["calibrate", "readout", "--shots", "20000", "--seed", "2", "--apply"]) == 0
    out = capsys.readouterr().out
    assert "20000 shots per prepared state" in out
    line = re.search(r"assignment_errors: \[([^\]]+)\]", out).group(1)
    errors = [float(value) for value in line.split(",")]
    assert expected != pytest.approx([0.02, 0.05, 0.02, 0.05], abs=0.01)  # the readout's decay counts
    assert errors == pytest.approx(expected, abs=0.006)  # simulated.yaml's readout, decay included
    assert "applied to readout" in out


def test_calibrate_source_sets_the_source_fits_and_plots(tmp_path, capsys):
    code = main(["calibrate", "source", "--bandwidth", "3e6", "--temperature", "25", "--attenuation", "0",
                 "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    row = re.search(r"bandwidth_Hz\s+(\S+)\s+\S+\s+(\S+)", out)
    assert float(row.group(2)) == 3e6
    assert float(row.group(1)) == pytest.approx(3e6, rel=0.05)
    assert (tmp_path / "source_characterisation.png").is_file()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["readout", "--shots", "0"], "shots=0 is outside the allowed range"),
        (["source", "--bandwidth", "1e10"], "--bandwidth 10000000000.0 is rejected by source_bandwidth"),
        (["readout", "--station", "no/such/station.yaml"], "station file 'no/such/station.yaml' does not exist"),
    ],
)
def test_bad_calibrate_input_exits_with_code_2_naming_the_value(tmp_path, capsys, arguments, message):
    assert main(["calibrate", *arguments]) == 2
    assert message in capsys.readouterr().err
